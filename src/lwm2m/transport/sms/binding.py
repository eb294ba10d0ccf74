"""The LwM2M SMS binding (LwM2M 1.1 Transport §6.6.2 "SMS Binding", binding letter S): one
CoAP message per binary SMS (8-bit data coding), concatenated when it is longer than one SMS
holds, addressed by MSISDN; and SMS triggers.

Sans-I/O: the server core imports :class:`SmsPeer` to tell SMS peers from others, and both the
SMPP adapter (server side) and the AT modem driver (device side) use :class:`SmsOutbox` and
:class:`SmsInbox` to turn datagrams into parts and back.

The binding disables CoAP retransmission (the SMSC stores and forwards), so a lost part loses
the datagram: the endpoint serving SMS peers must run with MAX_RETRANSMIT 0 and a timeout of
SMS latencies.  Application port addressing is not part of the LwM2M binding (it is RFC 7925
Appendix A's for DTLS over SMS); ``ports`` adds a 16-bit port element for networks that route
on it, and received ports are kept apart (a message to other ports is not ours).
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Collection, Hashable
from dataclasses import dataclass

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.errors import MessageFormatError
from lwm2m.coap.message import Message
from lwm2m.coap.options import Options
from lwm2m.transport.sms.concat import Part, Reassembler, split
from lwm2m.transport.sms.udh import Ports

MSISDN = re.compile(r"[0-9]{5,15}")
"""TS 23.003: an E.164 number without ``+``, as the ``sms`` registration parameter carries it."""
SERVER_OBJECT = "1"
LWM2M_TRIGGER_PORT = 5683
"""The 16-bit application port (TS 23.040 §9.2.3.24.4) of device triggers for the LwM2M
client.  LwM2M assigns no SMS port (its SMS binding addresses none; OMA's answer in
OMA_LwM2M_for_Developers#92 points to TS 23.040's addressing scheme only), but a T8 device
trigger names one (``applicationPortId`` is mandatory, TS 29.122) and the network delivers it
as SMS to that port: we use CoAP's port, the server's ``WakeSettings.t8_application_port``."""


@dataclass(frozen=True, slots=True)
class SmsPeer:
    """A device (or server) reached by SMS, by MSISDN.  Never equal to an address tuple or
    another carrier's peer (a :class:`~lwm2m.transport.nidd.peer.NiddPeer` with the same
    MSISDN included), so no exchange of one transport answers for another."""

    msisdn: str

    def __post_init__(self) -> None:
        if not isinstance(self.msisdn, str) or not MSISDN.fullmatch(self.msisdn):
            raise ValueError(f"not an MSISDN: {self.msisdn!r:.40}")

    @classmethod
    def parse(cls, text: str) -> SmsPeer:
        """``491701234567`` or ``+491701234567`` (SMPP and modems write both); ValueError else."""
        return cls(text.removeprefix("+"))

    def __str__(self) -> str:
        return "sms:" + self.msisdn


@dataclass(frozen=True, slots=True)
class SmsPortPeer:
    """The sender of an SMS addressed to an application ``port`` an :class:`SmsInbox` takes
    besides the binding's SMS: a device trigger the network delivers (TS 23.682 §5.2, from
    its own number, not the server's).  Never equal to an :class:`SmsPeer`: nothing is
    answered to it."""

    msisdn: str
    port: int

    def __str__(self) -> str:
        return f"sms:{self.msisdn}:{self.port}"


class Trigger(enum.IntEnum):
    """The Server object's (/1) executable resources an SMS trigger executes."""

    REGISTRATION_UPDATE = 8
    BOOTSTRAP_REQUEST = 9


def trigger_datagram(
    trigger: Trigger, server_instance: int, message_id: int, token: bytes = b""
) -> bytes:
    """A NON POST (Execute) of /1/``server_instance``/``trigger``: the device answers by
    registering (or bootstrapping) over its own binding, never with a CoAP response."""
    options = Options.build(uri_path=(SERVER_OBJECT, str(server_instance), str(int(trigger))))
    return Message(Type.NON, Code.POST, message_id, token, options).encode()


def parse_trigger(datagram: bytes) -> tuple[Trigger, int] | None:
    """(trigger, server instance) when ``datagram`` is an Execute of /1/x/8 or /1/x/9 (CON or
    NON: a device treats both as the trigger), else None."""
    try:
        message = Message.decode(datagram)
        path = message.options.uri_path
    except MessageFormatError:
        return None
    if message.code != Code.POST or message.type not in (Type.CON, Type.NON):
        return None
    if len(path) != 3 or path[0] != SERVER_OBJECT or not path[1].isdigit():
        return None
    try:
        return Trigger(int(path[2])), int(path[1])
    except ValueError:
        return None


class SmsOutbox:
    """Datagrams to parts: a fresh concatenation reference for every datagram that needs more
    than one SMS (8-bit references by default, the smaller header; they wrap after 256 long
    messages, long after the receiver's reassembly timeout at SMS rates)."""

    def __init__(
        self,
        rng: random.Random,
        *,
        wide_reference: bool = False,
        ports: Ports | None = None,
    ) -> None:
        self.wide_reference = wide_reference
        self.ports = ports
        self._next_reference = rng.randrange(1 << 16 if wide_reference else 1 << 8)

    def parts(self, datagram: bytes) -> list[Part]:
        """The SMS carrying ``datagram``; SmsEncodeError when it needs more than 255."""
        reference = self._next_reference
        parts = split(datagram, reference, wide_reference=self.wide_reference, ports=self.ports)
        if len(parts) > 1:
            self._next_reference = (reference + 1) % (1 << 16 if self.wide_reference else 1 << 8)
        return parts


class SmsInbox:
    """Parts to datagrams, through a bounded :class:`Reassembler`.  With ``ports`` set, only
    parts addressed to ``ports.destination`` are accepted; without it, parts carrying ports
    are refused (another application's messages).  Parts to one of ``trigger_ports`` are
    accepted besides, and their datagrams come from an :class:`SmsPortPeer` (:meth:`origin`)."""

    def __init__(
        self,
        reassembler: Reassembler | None = None,
        *,
        ports: Ports | None = None,
        trigger_ports: Collection[int] = (),
    ):
        self.reassembler = reassembler or Reassembler()
        self.ports = ports
        self.trigger_ports = frozenset(trigger_ports)
        self.foreign = 0
        """Parts addressed to another application port, dropped."""

    def origin(self, sender: SmsPeer, part: Part) -> SmsPeer | SmsPortPeer:
        """Who sent the datagram ``part`` completed: ``sender``, or for a part addressed to
        one of ``trigger_ports`` the :class:`SmsPortPeer` of that port."""
        port = self._trigger_port(part)
        return sender if port is None else SmsPortPeer(sender.msisdn, port)

    def _trigger_port(self, part: Part) -> int | None:
        received = None if part.header is None else part.header.ports
        if received is None or received.destination not in self.trigger_ports:
            return None
        return received.destination

    def receive(self, sender: Hashable, part: Part, now: float) -> bytes | None:
        """The datagram ``part`` completes, or None."""
        received = None if part.header is None else part.header.ports
        if self._trigger_port(part) is not None:
            return self.reassembler.add(sender, part, now)
        if (received is None) != (self.ports is None) or (
            received is not None
            and self.ports is not None
            and received.destination != self.ports.destination
        ):
            self.foreign += 1
            return None
        return self.reassembler.add(sender, part, now)

    def get_timer(self) -> float | None:
        return self.reassembler.get_timer()

    def handle_timer(self, now: float) -> None:
        self.reassembler.handle_timer(now)
