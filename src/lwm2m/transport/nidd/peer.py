"""A device as NIDD names it, and what a T8 DeliveryStatus means for the CoAP layer.

Sans-I/O: the server core imports this to tell NIDD peers from others.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Literal

IdentityKind = Literal["externalId", "msisdn"]

EXTERNAL_ID = re.compile(r"[^@\s/]{1,128}@[^@\s/]{1,128}")
"""``local@domain`` (TS 23.003 clause 19.7.2); no ``/`` so that it fits a URL path segment."""
MSISDN = re.compile(r"[0-9]{5,15}")
_MSISDN_PREFIX = "msisdn:"
PDN_OPTIONS = ("WAIT_FOR_UE", "INDICATE_ERROR", "SEND_TRIGGER")
"""pdnEstablishmentOption values (TS 29.122)."""


@dataclass(frozen=True, slots=True)
class NiddPeer:
    """A device reached over T8, by external identifier or MSISDN (never the IMSI, which the
    SCEF keeps to itself).  Never equal to a ``(host, port)`` tuple or another transport's
    peer, so no exchange or registration of one transport answers for another."""

    kind: IdentityKind
    value: str

    def __post_init__(self) -> None:
        pattern = EXTERNAL_ID if self.kind == "externalId" else MSISDN
        if self.kind not in ("externalId", "msisdn") or not pattern.fullmatch(self.value):
            raise ValueError(f"not a valid {self.kind}: {self.value!r:.80}")

    @classmethod
    def parse(cls, text: str) -> NiddPeer:
        """``dev@domain`` (an external identifier) or ``msisdn:491701234567``, as
        :meth:`__str__` writes them; ValueError otherwise."""
        if text.startswith(_MSISDN_PREFIX):
            return cls("msisdn", text[len(_MSISDN_PREFIX) :])
        return cls("externalId", text)

    def to_json(self) -> dict[str, str]:
        """The identity as T8 bodies carry it."""
        return {self.kind: self.value}

    def __str__(self) -> str:
        return self.value if self.kind == "externalId" else _MSISDN_PREFIX + self.value


class Delivery(enum.Enum):
    """What a DeliveryStatus says about a downlink datagram."""

    DELIVERED = "delivered"  # it left the SCEF: the device may answer
    HELD = "held"  # the SCEF holds it (buffering, triggered, sending): do not send it again
    FAILED = "failed"  # it is lost: the request fails with the status as its cause


def classify(status: str) -> Delivery:
    """Every DeliveryStatus of TS 29.122, and values a later release may add: SUCCESS* is
    delivered, FAILURE* failed; the rest (BUFFERING*, TRIGGERED, SENDING, unknown) leave the
    data with the network, where CoAP's own timeout ends the wait."""
    if status.startswith("SUCCESS"):
        return Delivery.DELIVERED
    if status.startswith("FAILURE"):
        return Delivery.FAILED
    return Delivery.HELD
