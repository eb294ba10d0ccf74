"""Typed errors of the AT driver: what the modem answered (remote) apart from misuse (local).

``+CME ERROR: <err>`` (TS 27.007 clause 9.2) and ``+CMS ERROR: <err>`` (TS 27.005 clause
3.2.5) keep their numbers and spec names; a number the tables do not list still makes a
member (``CME_123``), as :class:`~lwm2m.coap.codes.Code` does, so nothing a module says is
lost. Modules in verbose mode (``AT+CMEE=2``) send the text instead of the number: it is
mapped back by name where the spec's text matches, and kept as text otherwise.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeVar


class OpenIntEnum(IntEnum):
    """An IntEnum whose unknown values become members named ``<PREFIX>_<n>`` (the first
    three letters of the class name), so a value no table lists is kept, not refused."""

    @classmethod
    def _missing_(cls, value: object) -> OpenIntEnum | None:
        if type(value) is not int or not 0 <= value <= 0xFFFF:
            return None
        member = int.__new__(cls, value)
        member._name_ = f"{cls.__name__[:3].upper()}_{value}"
        member._value_ = value
        return cls._value2member_map_.setdefault(value, member)  # type: ignore[return-value]

    @property
    def text(self) -> str:
        """The spec's wording, lower case (``incorrect parameters``)."""
        return self.name.lower().replace("_", " ")

    @classmethod
    def from_text(cls, text: str) -> OpenIntEnum | None:
        """The member whose spec wording ``text`` is (modules in ``AT+CMEE=2`` mode)."""
        key = "".join(c if c.isalnum() else "_" for c in text.strip().upper())
        while "__" in key:
            key = key.replace("__", "_")
        return cls.__members__.get(key.strip("_"))


class CmeErrorCode(OpenIntEnum):
    """TS 27.007 9.2.1 (general) and 9.2.2 (GPRS and EPS) ``+CME ERROR`` values."""

    PHONE_FAILURE = 0
    NO_CONNECTION_TO_PHONE = 1
    PHONE_ADAPTOR_LINK_RESERVED = 2
    OPERATION_NOT_ALLOWED = 3
    OPERATION_NOT_SUPPORTED = 4
    PH_SIM_PIN_REQUIRED = 5
    SIM_NOT_INSERTED = 10
    SIM_PIN_REQUIRED = 11
    SIM_PUK_REQUIRED = 12
    SIM_FAILURE = 13
    SIM_BUSY = 14
    SIM_WRONG = 15
    INCORRECT_PASSWORD = 16
    MEMORY_FULL = 20
    INVALID_INDEX = 21
    NOT_FOUND = 22
    MEMORY_FAILURE = 23
    TEXT_STRING_TOO_LONG = 24
    INVALID_CHARACTERS_IN_TEXT_STRING = 25
    NO_NETWORK_SERVICE = 30
    NETWORK_TIMEOUT = 31
    NETWORK_NOT_ALLOWED_EMERGENCY_CALLS_ONLY = 32
    INCORRECT_PARAMETERS = 50
    COMMAND_IMPLEMENTED_BUT_CURRENTLY_DISABLED = 51
    COMMAND_ABORTED_BY_USER = 52
    NOT_ATTACHED_TO_NETWORK_DUE_TO_MT_FUNCTIONALITY_RESTRICTIONS = 53
    MODEM_NOT_ALLOWED_MT_RESTRICTED_TO_EMERGENCY_CALLS_ONLY = 54
    OPERATION_NOT_ALLOWED_BECAUSE_OF_MT_FUNCTIONALITY_RESTRICTIONS = 55
    UNKNOWN = 100
    ILLEGAL_MS = 103
    ILLEGAL_ME = 106
    GPRS_SERVICES_NOT_ALLOWED = 107
    PLMN_NOT_ALLOWED = 111
    LOCATION_AREA_NOT_ALLOWED = 112
    ROAMING_NOT_ALLOWED_IN_THIS_LOCATION_AREA = 113
    CONGESTION = 122
    INSUFFICIENT_RESOURCES = 126
    MISSING_OR_UNKNOWN_APN = 127
    UNKNOWN_PDP_ADDRESS_OR_PDP_TYPE = 128
    USER_AUTHENTICATION_FAILED = 129
    ACTIVATION_REJECTED_UNSPECIFIED = 131
    SERVICE_OPTION_NOT_SUPPORTED = 132
    REQUESTED_SERVICE_OPTION_NOT_SUBSCRIBED = 133
    SERVICE_OPTION_TEMPORARILY_OUT_OF_ORDER = 134
    FEATURE_NOT_SUPPORTED = 140
    UNSPECIFIED_GPRS_ERROR = 148
    PDP_AUTHENTICATION_FAILURE = 149
    UPLINK_BUSY_FLOW_CONTROL = 159


class CmsErrorCode(OpenIntEnum):
    """TS 27.005 3.2.5 ``+CMS ERROR`` values (0…255 are network causes, kept by number)."""

    ME_FAILURE = 300
    SMS_SERVICE_OF_ME_RESERVED = 301
    OPERATION_NOT_ALLOWED = 302
    OPERATION_NOT_SUPPORTED = 303
    INVALID_PDU_MODE_PARAMETER = 304
    INVALID_TEXT_MODE_PARAMETER = 305
    SIM_NOT_INSERTED = 310
    SIM_PIN_REQUIRED = 311
    PH_SIM_PIN_REQUIRED = 312
    SIM_FAILURE = 313
    SIM_BUSY = 314
    SIM_WRONG = 315
    SIM_PUK_REQUIRED = 316
    MEMORY_FAILURE = 320
    INVALID_MEMORY_INDEX = 321
    MEMORY_FULL = 322
    SMSC_ADDRESS_UNKNOWN = 330
    NO_NETWORK_SERVICE = 331
    NETWORK_TIMEOUT = 332
    NO_CNMA_ACKNOWLEDGEMENT_EXPECTED = 340
    UNKNOWN_ERROR = 500


CodeT = TypeVar("CodeT", CmeErrorCode, CmsErrorCode)


class ModemError(Exception):
    """Any failure of an AT command."""


class RemoteModemError(ModemError):
    """The modem answered, and the answer is a failure or not what the spec allows."""


class CommandError(RemoteModemError):
    """A final result code other than OK without a number: ``ERROR`` (unknown command,
    bad syntax), or V.250's ``NO CARRIER``, ``BUSY``... ``result`` is the line."""

    def __init__(self, command: str, result: str) -> None:
        super().__init__(f"{command}: {result}")
        self.command = command
        self.result = result


class NumberedError(RemoteModemError):
    """A numbered final result code: ``code`` is its enum member, or None with only
    ``text`` when a verbose module sent wording the spec does not have."""

    LABEL = ""

    def __init__(self, command: str, code: CmeErrorCode | CmsErrorCode | None, text: str) -> None:
        super().__init__(f"{command}: {self.LABEL}: {text}")
        self.command = command
        self.code = code
        self.text = text


class CmeError(NumberedError):
    """``+CME ERROR`` (TS 27.007 9.2)."""

    LABEL = "+CME ERROR"


class CmsError(NumberedError):
    """``+CMS ERROR`` of an SMS command (TS 27.005 3.2.5)."""

    LABEL = "+CMS ERROR"


class ResponseFormatError(RemoteModemError):
    """The command ended with OK but its information text is not what the spec defines."""


class CommandTimeoutError(ModemError):
    """No final result code within the command's timeout."""

    def __init__(self, command: str, timeout: float) -> None:
        super().__init__(f"{command}: no final result code within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class ModemUsageError(ModemError, ValueError):
    """Local misuse: a value no command can carry, a full queue, a closed session."""


class PacketTooLargeError(ModemUsageError):
    """A datagram longer than the modem or network takes over the control plane; NIDD does
    no segmentation, so the application must fit its messages (CoAP block-wise)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size}-octet datagram over the {limit}-octet NIDD maximum")
        self.size = size
        self.limit = limit


def _code(text: str, kind: type[CodeT]) -> tuple[CodeT | None, str]:
    if text.isdigit() and len(text) <= 5 and int(text) <= 0xFFFF:
        code = kind(int(text))
        return code, code.text
    return kind.from_text(text), text  # type: ignore[return-value]


def final_error(command: str, line: str) -> RemoteModemError:
    """The typed error for a failing final result code line."""
    upper = line.upper()
    if upper.startswith("+CME ERROR:"):
        cme, text = _code(line[11:].strip(), CmeErrorCode)
        return CmeError(command, cme, text)
    if upper.startswith("+CMS ERROR:"):
        cms, text = _code(line[11:].strip(), CmsErrorCode)
        return CmsError(command, cms, text)
    return CommandError(command, line)
