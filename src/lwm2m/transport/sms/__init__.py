"""SMS (binding S): TS 23.040 TPDUs and PDU mode ◆, concatenation ◆, the LwM2M SMS binding and
triggers ◆, and the SMPP 3.4 adapter that serves it from the server (:mod:`.smpp`, asyncio).

Every module but :mod:`.smpp` is sans-I/O; docs/sms.md has the design.
"""

from lwm2m.transport.sms.binding import (
    SmsInbox,
    SmsOutbox,
    SmsPeer,
    Trigger,
    parse_trigger,
    trigger_datagram,
)
from lwm2m.transport.sms.concat import Part, Reassembler, split
from lwm2m.transport.sms.errors import SmsDecodeError, SmsEncodeError

__all__ = [
    "Part",
    "Reassembler",
    "SmsDecodeError",
    "SmsEncodeError",
    "SmsInbox",
    "SmsOutbox",
    "SmsPeer",
    "Trigger",
    "parse_trigger",
    "split",
    "trigger_datagram",
]
