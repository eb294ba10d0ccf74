"""SMPP 3.4 delivery receipts: which submitted message a deliver_sm reports on and what
became of it (§5.2.12 esm_class, §5.3.2.35 message_state, Appendix B's receipt text)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lwm2m.transport.nidd.peer import Delivery

ESM_UDHI = 0x40
ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
ESM_INTERMEDIATE_NOTIFICATION = 0x20
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
TLV_MESSAGE_PAYLOAD = 0x0424

STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
"""message_state values by the receipt text's spelling of them."""
_OUTCOMES = {
    "DELIVRD": Delivery.DELIVERED,
    "EXPIRED": Delivery.FAILED,
    "DELETED": Delivery.FAILED,
    "UNDELIV": Delivery.FAILED,
    "REJECTD": Delivery.FAILED,
}
_FIELD = re.compile(rb"\b(id|stat|err):(\S*)", re.IGNORECASE)


def is_receipt(esm_class: int) -> bool:
    """A delivery receipt or intermediate notification rather than a mobile-originated message."""
    kind = esm_class & ESM_TYPE_MASK
    return kind in (ESM_DELIVERY_RECEIPT, ESM_INTERMEDIATE_NOTIFICATION, 0x08, 0x10)


@dataclass(frozen=True, slots=True)
class Receipt:
    """``message_id`` as submit_sm_resp gave it; ``state`` as the SMSC spells it (unknown
    spellings kept); ``error`` the network error code text, if any."""

    message_id: str
    state: str
    error: str = ""

    @property
    def outcome(self) -> Delivery:
        """DELIVRD is delivered, the final failures failed, the rest (ENROUTE, ACCEPTD,
        UNKNOWN, what a later SMSC invents) leave the outcome open."""
        return _OUTCOMES.get(self.state.upper(), Delivery.HELD)


def parse_receipt(short_message: bytes, tlvs: dict[int, bytes]) -> Receipt | None:
    """The receipt a deliver_sm carries: the TLVs when present (exact), else the Appendix B
    text; None when neither names a message."""
    fields = {key.lower(): value for key, value in _FIELD.findall(short_message)}
    message_id = tlvs.get(TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00") or fields.get(b"id", b"")
    state_value = tlvs.get(TLV_MESSAGE_STATE, b"")
    if len(state_value) == 1 and state_value[0] in STATES:
        state = STATES[state_value[0]]
    else:
        state = fields.get(b"stat", b"UNKNOWN").decode("ascii", "replace")
    if not message_id:
        return None
    return Receipt(
        message_id.decode("ascii", "replace"),
        state,
        fields.get(b"err", b"").decode("ascii", "replace"),
    )
