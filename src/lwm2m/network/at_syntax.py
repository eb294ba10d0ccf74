"""TS 27.007 command-line syntax: splitting a line into commands, parameters, result codes.

Kept apart from the command table so that every command parses its parameters the same way
(quoted strings, empty parameters, decimal numbers) and fails with the same error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from lwm2m.transport.modem.errors import CmsErrorCode
from lwm2m.transport.modem.syntax import AtSyntaxError, QuotedParam, split_quoted_params

CRLF = "\r\n"
MAX_LINE = 4096
"""Longest command line taken (a 1358-octet AT+CSODCP is ~2,740 characters)."""


class CmeError(IntEnum):
    """``+CME ERROR: <err>`` values this modem uses (TS 27.007 clause 9.2)."""

    OPERATION_NOT_ALLOWED = 3
    OPERATION_NOT_SUPPORTED = 4
    NO_NETWORK_SERVICE = 30
    INCORRECT_PARAMETERS = 50
    UNKNOWN = 100
    UPLINK_BUSY_FLOW_CONTROL = 159
    """TS 27.007 clause 9.2.2 (GPRS and EPS-related errors): 159 "Uplink Busy/ Flow
    Control", which modules answer to an uplink that rate control holds back."""

    @property
    def text(self) -> str:
        return (
            self.name.replace("_", " ").capitalize().replace("Uplink busy flow", "Uplink busy/flow")
        )


class AtCommandError(Exception):
    """A command fails with a +CME ERROR, a +CMS ERROR (``cms``: the SMS commands of
    TS 27.005) or plain ERROR (a command that does not exist)."""

    def __init__(self, error: CmeError | None, *, cms: CmsErrorCode | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.cms = cms


class Form(Enum):
    ACTION = ""  # AT+CIMI
    SET = "="  # AT+CFUN=1
    READ = "?"  # AT+CFUN?
    TEST = "=?"  # AT+CFUN=?


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    """Upper case, with its prefix: ``+CFUN``, ``E``, ``I``."""
    form: Form
    params: tuple[QuotedParam | None, ...]
    """None for an omitted parameter (``AT+CPSMS=1,,,"00100001"``)."""

    def integer(self, index: int, low: int, high: int, default: int | None = None) -> int:
        param = self.params[index] if index < len(self.params) else None
        if param is None:
            if default is None:
                raise AtCommandError(CmeError.INCORRECT_PARAMETERS)
            return default
        if param.quoted or not param.text.isdigit() or not low <= int(param.text) <= high:
            raise AtCommandError(CmeError.INCORRECT_PARAMETERS)
        return int(param.text)

    def string(self, index: int, default: str | None = None) -> str:
        """A string parameter; the quotes TS 27.007 asks for are optional here, as in most
        modules."""
        param = self.params[index] if index < len(self.params) else None
        if param is None:
            if default is None:
                raise AtCommandError(CmeError.INCORRECT_PARAMETERS)
            return default
        return param.text

    def given(self, index: int) -> bool:
        return index < len(self.params) and self.params[index] is not None


def split_params(text: str) -> tuple[QuotedParam | None, ...]:
    """``1,"Non-IP",,"a,b"`` → four parameters (the third omitted); the modem driver's
    splitter, strict as a command line must be."""
    try:
        return split_quoted_params(text, strict=True)
    except AtSyntaxError:
        raise AtCommandError(CmeError.INCORRECT_PARAMETERS) from None


def split_line(line: str) -> list[Command] | None:
    """The commands of one ``AT...`` line, or None if it is no command line. Extended
    commands may be chained with ``;`` (``AT+CFUN=1;+CEREG=2``)."""
    text = line.strip()
    if len(text) < 2 or text[:2].upper() != "AT":
        return None
    rest = text[2:]
    commands: list[Command] = []
    while rest:
        if rest[0] in "+&%":
            end = _command_end(rest)
            commands.append(_extended(rest[:end]))
            rest = rest[end + 1 :].lstrip()
        elif rest[0].isalpha():
            name = rest[0].upper()
            digits = ""
            rest = rest[1:]
            while rest and rest[0].isdigit():
                digits += rest[0]
                rest = rest[1:]
            params = (QuotedParam(digits, False),) if digits else ()
            commands.append(Command(name, Form.SET if digits else Form.ACTION, params))
        else:
            raise AtCommandError(None)
    return commands


def _command_end(text: str) -> int:
    in_quotes = False
    for index, char in enumerate(text):
        if char == '"':
            in_quotes = not in_quotes
        elif char == ";" and not in_quotes:
            return index
    return len(text)


def _extended(text: str) -> Command:
    for marker, form in (("=?", Form.TEST), ("?", Form.READ), ("=", Form.SET)):
        position = text.find(marker)
        if position > 0 and (form is not Form.READ or position == len(text) - 1):
            name = text[:position].upper()
            params = split_params(text[position + len(marker) :]) if form is Form.SET else ()
            return Command(name, form, params)
    return Command(text.upper(), Form.ACTION, ())


def frame(lines: list[str]) -> str:
    """Information text and result codes as a V.250 modem sends them with V1."""
    return "".join(f"{CRLF}{line}{CRLF}" for line in lines)


def quote(text: str) -> str:
    return f'"{text}"'
