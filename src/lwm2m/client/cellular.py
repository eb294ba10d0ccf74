"""What a device with a real modem reports about its link, taken from the modem only.

:class:`ModemObjects` copies the modem's reports (:class:`ModemStatus`) into Connectivity
Monitoring (/4: bearer, RSRP, RSRQ, cell ID, TAC, APN), Cellular Connectivity (/10: granted
PSM and eDRX timers) and Connectivity Statistics (/7: every Non-IP datagram the modem sent or
received).  What the modem did not report is absent, never made up: no IP address over NIDD,
no SNR (``+CESQ`` has none), no serving PLMN (the driver does not read ``+COPS``).

Also here: the endpoint name from the SIM's identity and the CoAP block size that fits the
network's maximum packet size.  Sans-I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from lwm2m.client.objects import SimpleObject
from lwm2m.client.standard.cellular import CellularConnectivityObject, edrx_octet
from lwm2m.client.standard.statistics import ConnectivityStatisticsObject
from lwm2m.client.tree import ObjectTree
from lwm2m.transport.modem.channel import Identity
from lwm2m.transport.modem.commands import MoDataSent
from lwm2m.transport.modem.session import CommandSucceeded, SessionEvent
from lwm2m.transport.modem.status import ModemStatus
from lwm2m.transport.modem.urc import ACT_NB_S1, ControlPlaneData

NB_IOT_BEARER = 7
"""/4/0 Network Bearer: NB-IoT."""
RADIO_SIGNAL_STRENGTH = 2
LINK_QUALITY = 3
CELL_ID = 8
LAC = 12
CONNECTIVITY_MONITORING = 4
CONNECTIVITY_STATISTICS = 7
CELLULAR_CONNECTIVITY = 10
MAX_SZX = 6
COAP_OVERHEAD = 96
"""Octets a CoAP message carries besides its block: 4 header, 8 token, the payload marker and
options (Uri-Path ``rd/<id>``, the Register's queries, Content-Format, Block1/Block2, Size1,
Request-Tag, Observe); the endpoint name's length comes on top (``ep=``)."""
_T = TypeVar("_T")
MODEM_FED = (CONNECTIVITY_MONITORING, CONNECTIVITY_STATISTICS, CELLULAR_CONNECTIVITY)
"""Objects whose values come from the modem: a simulator must leave them alone."""


class EndpointSource(Enum):
    IMEI = "imei"
    IMSI = "imsi"
    EXTERNAL_ID = "external-id"


def endpoint_name(
    identity: Identity, source: EndpointSource, external_id: str | None = None
) -> str:
    """``urn:imei:<IMEI>`` (LwM2M's recommended form), ``urn:imsi:<IMSI>``, or the external
    identifier the operator assigned, which no AT command reads: it must be given."""
    if source is EndpointSource.IMEI:
        return f"urn:imei:{identity.imei}"
    if source is EndpointSource.IMSI:
        return f"urn:imsi:{identity.imsi}"
    if not external_id:
        raise ValueError("the external identifier is the operator's: no AT command reads it")
    return external_id


def fitting_block_szx(max_packet_size: int, endpoint: str) -> int:
    """The largest block size exponent whose block, with the CoAP header and options, fits
    one Non-IP datagram (NIDD does no segmentation)."""
    room = max_packet_size - COAP_OVERHEAD - len(endpoint)
    if room < 16:
        raise ValueError(
            f"a {max_packet_size}-octet packet has no room for a 16-byte CoAP block"
            f" (about {COAP_OVERHEAD + len(endpoint)} octets of header and options)"
        )
    return min(MAX_SZX, int(math.log2(room)) - 4)


TrafficListener = Callable[[int, int], None]
"""``listener(sent_octets, received_octets)`` for one datagram."""


@dataclass(slots=True)
class CountingStatus(ModemStatus):
    """:class:`ModemStatus` that also tells listeners of each datagram the modem sent
    (``AT+CSODCP`` answered OK) or received (``+CRTDCP``), with its size."""

    listeners: list[TrafficListener] = field(default_factory=list)

    def apply(self, event: SessionEvent) -> None:
        ModemStatus.apply(self, event)  # no zero-argument super() in a slotted dataclass
        if isinstance(event, CommandSucceeded) and isinstance(event.result, MoDataSent):
            self._tell(event.result.octets, 0)
        elif isinstance(event, ControlPlaneData):
            self._tell(0, len(event.data))

    def _tell(self, sent: int, received: int) -> None:
        for listener in tuple(self.listeners):
            listener(sent, received)


class ModemObjects:
    """Keeps /4, /7 and /10 of ``tree`` true to what the modem reports (module docstring)."""

    def __init__(self, tree: ObjectTree, apn: str) -> None:
        self._monitoring = _object(tree, CONNECTIVITY_MONITORING, SimpleObject)
        self._statistics = _object(tree, CONNECTIVITY_STATISTICS, ConnectivityStatisticsObject)
        self._cellular = _object(tree, CELLULAR_CONNECTIVITY, CellularConnectivityObject)
        if self._monitoring is not None:
            self._monitoring.set(0, 7, {0: apn})
            self._monitoring.set(0, 4, {})  # Non-IP: the device has no IP address

    @property
    def cellular(self) -> CellularConnectivityObject | None:
        return self._cellular

    def apply(self, status: ModemStatus) -> None:
        """Copy the latest reports in (what is unknown becomes absent)."""
        monitoring = self._monitoring
        if monitoring is not None:
            signal = status.signal
            rsrp = None if signal is None else signal.rsrp
            rsrq = None if signal is None else signal.rsrq
            _put(monitoring, RADIO_SIGNAL_STRENGTH, rsrp)
            _put(monitoring, LINK_QUALITY, None if rsrq is None else math.floor(rsrq))
            registration = status.registration
            if registration is not None and registration.act == ACT_NB_S1:
                monitoring.set(0, 0, NB_IOT_BEARER)
            _put(monitoring, CELL_ID, None if registration is None else registration.cell_id)
            _put(monitoring, LAC, None if registration is None else registration.tac)
        cellular = self._cellular
        if cellular is not None and status.registration is not None:
            edrx = status.edrx
            granted_edrx = (
                edrx_octet(edrx.ptw_bits, edrx.network_bits)
                if edrx is not None and edrx.network_bits and edrx.ptw_bits
                else None
            )
            cellular.granted(
                periodic_tau=status.periodic_tau,
                active_time=status.active_time,
                edrx=granted_edrx,
            )

    def traffic(self, now: float, sent: int, received: int) -> None:
        """One datagram through the modem (/7 counts it while collecting)."""
        if self._statistics is not None:
            self._statistics.record(now, sent=sent, received=received)


def _object(tree: ObjectTree, object_id: int, kind: type[_T]) -> _T | None:
    if object_id not in tree:
        return None
    found = tree.object(object_id)
    return found if isinstance(found, kind) else None


def _put(obj: SimpleObject, resource_id: int, value: int | None) -> None:
    if value is None:
        obj.unset(0, resource_id)
    else:
        obj.set(0, resource_id, value)
