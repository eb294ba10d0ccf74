"""The client's SMS binding (``S``): its CoAP as binary SMS through the modem
(:class:`~lwm2m.transport.modem.sms.SmsTransport`, ``AT+CMGS`` / ``+CMT``).

A server account is reachable over SMS when its Security instance holds the LwM2M Server SMS
Number (/0/x/9); the device announces its own number (``sms=``) whenever it announces ``S``.
SMS from any other number is dropped unread (Transport §6.6.2).  A NON Execute of /1/x/8 or
/1/x/9 with no payload from a server's number is an SMS trigger: it wakes the device, which
Updates (or bootstraps) over the account's transport, and no CoAP response is sent; any
other datagram is a CoAP message over the SMS binding, answered over SMS.  SMS to the LwM2M
trigger port (:data:`~lwm2m.transport.sms.binding.LWM2M_TRIGGER_PORT`) are T8 device
triggers: the network sends them from its own number, so they are taken from any number,
but only as Registration Update Triggers (docs/sms.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.client.carriers import CarrierPort, CarrierSet
from lwm2m.coap.codes import Type
from lwm2m.coap.errors import MessageFormatError
from lwm2m.coap.events import Peer
from lwm2m.coap.message import Message
from lwm2m.transport.modem.channel import Modem
from lwm2m.transport.sms.binding import SmsPeer, SmsPortPeer, Trigger, parse_trigger


@dataclass(frozen=True, slots=True)
class SmsLink:
    """A modem's SMS service for the client, and the device's own number (MSISDN, ``+``
    optional)."""

    modem: Modem
    msisdn: str

    def __post_init__(self) -> None:
        SmsPeer.parse(self.msisdn)  # ValueError for what is not an MSISDN

    @property
    def number(self) -> str:
        return SmsPeer.parse(self.msisdn).msisdn


class SmsPort(CarrierPort):
    """The SMS carrier's port: drops what does not come from a server's number and turns
    SMS triggers into the engine's :meth:`~lwm2m.client.engine.ClientEngine.sms_trigger`."""

    __slots__ = ("dropped",)

    def __init__(self, carriers: CarrierSet, index: int, *, reachable: bool) -> None:
        super().__init__(carriers, index, reachable=reachable)
        self.dropped = 0
        """SMS from numbers that are no server's, and what came to the trigger port without
        being a trigger for one of the accounts."""

    def receive(self, data: bytes, peer: Peer, now: float) -> None:
        engine = self.carriers.engine
        if isinstance(peer, SmsPortPeer):
            self._device_trigger(data, now)
            return
        if not any(peer in reg.routes.values() for reg in engine.registrations.values()):
            self.dropped += 1
            return
        trigger = parse_trigger(data)
        if trigger is not None and _bare_non(data):
            engine.sms_trigger(trigger[0], trigger[1], peer, now)
            return
        super().receive(data, peer, now)

    def _device_trigger(self, data: bytes, now: float) -> None:
        """An SMS to the LwM2M trigger port (a T8 device trigger, delivered by the network
        from its own number): taken only when it is a Registration Update Trigger for one of
        the accounts, which the device answers by updating over the account's transport.
        The number it comes from proves nothing, so the worst a forged one can do is cost
        an Update: a Bootstrap-Request Trigger, and anything else, is dropped."""
        trigger = parse_trigger(data) if _bare_non(data) else None
        engine = self.carriers.engine
        if (
            trigger is None
            or trigger[0] is not Trigger.REGISTRATION_UPDATE
            or not engine.sms_trigger(trigger[0], trigger[1], None, now)
        ):
            self.dropped += 1


def _bare_non(datagram: bytes) -> bool:
    """A NON message without payload (the trigger form: no response expected)."""
    try:
        message = Message.decode(datagram)
    except MessageFormatError:
        return False
    return message.type == Type.NON and not message.payload
