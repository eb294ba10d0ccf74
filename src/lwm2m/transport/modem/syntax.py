"""TS 27.007 information-text syntax: ``+NAME: <params>`` lines split into parameters.

Modules differ in spacing (``+CEREG:1`` / ``+CEREG: 1``) and in whether hex and bit-string
parameters are quoted; the splitter accepts both, so parsers see one form.
"""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.transport.modem.errors import ResponseFormatError

Params = tuple[str | None, ...]
"""Parameter texts with their quotes removed; None for an omitted one (``1,,3``)."""


class AtSyntaxError(ResponseFormatError):
    """A parameter list or NAS bit string that is not TS 27.007 syntax; the emulated
    network's AT interpreter, which parses command lines with the same code, answers it
    with ``+CME ERROR: 50``."""


@dataclass(frozen=True, slots=True)
class QuotedParam:
    """One parameter's text without its quotes, and whether it was quoted (a command
    interpreter tells ``"1"`` from ``1``)."""

    text: str
    quoted: bool


def prefix_of(line: str) -> str | None:
    """``+CEREG`` of ``+CEREG: 1,"2F"``; None for a line with no ``+NAME:``/``%NAME:``."""
    if not line or line[0] not in "+%^$#":
        return None
    colon = line.find(":")
    if colon < 2:
        return None
    name = line[:colon]
    if not all(c.isalnum() or c in "_-" for c in name[1:]):
        return None
    return name.upper()


def split_params(text: str) -> Params:
    """``1,"002F",,"1A"`` → ("1", "002F", None, "1A"); a dangling quote is a format error."""
    return tuple(None if param is None else param.text for param in split_quoted_params(text))


def split_quoted_params(text: str, *, strict: bool = False) -> tuple[QuotedParam | None, ...]:
    """The parameters of ``text`` with their quoting; None for an omitted one. ``strict``
    (a TE's command line) refuses a quote after unquoted text and unquoted text after a
    closing quote; otherwise (modules' answers) such text is joined into the parameter."""
    params: list[QuotedParam | None] = []
    current: list[str] = []
    in_quotes = quoted = False
    for char in text:
        if in_quotes:
            if char == '"':
                in_quotes = False
            else:
                current.append(char)
        elif char == '"':
            if strict and current:
                raise AtSyntaxError(f"quote inside a parameter in {text[:40]!r}")
            in_quotes = quoted = True
        elif char == ",":
            params.append(QuotedParam("".join(current), quoted) if current or quoted else None)
            current, quoted = [], False
        elif not char.isspace():
            if strict and quoted:
                raise AtSyntaxError(f"text after a closing quote in {text[:40]!r}")
            current.append(char)
    if in_quotes:
        raise AtSyntaxError(f"unterminated quote in {text!r}")
    params.append(QuotedParam("".join(current), quoted) if current or quoted else None)
    return () if params == [None] else tuple(params)


def params_of(line: str) -> Params:
    """The parameters after the ``+NAME:`` of an information or URC line."""
    return split_params(line[line.index(":") + 1 :])


def integer(params: Params, index: int, low: int = 0, high: int = 0xFFFF) -> int:
    """Parameter ``index`` as a decimal integer within [low, high]."""
    value = optional_integer(params, index, low, high)
    if value is None:
        raise ResponseFormatError(f"parameter {index + 1} missing in {params!r}")
    return value


def optional_integer(params: Params, index: int, low: int = 0, high: int = 0xFFFF) -> int | None:
    text = params[index] if index < len(params) else None
    if text is None:
        return None
    if not text.isdigit() or len(text) > 10 or not low <= int(text) <= high:
        raise ResponseFormatError(f"parameter {index + 1} {text!r}: integer {low}..{high}")
    return int(text)


def optional_text(params: Params, index: int) -> str | None:
    return params[index] if index < len(params) else None


def hex_octets(text: str, length: int | None = None) -> bytes:
    """Octets of a hex string (two IRA characters per octet), checked against ``length``."""
    if len(text) % 2 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise ResponseFormatError(f"not hexadecimal octets: {text[:40]!r}")
    data = bytes.fromhex(text)
    if length is not None and len(data) != length:
        raise ResponseFormatError(f"{len(data)} octets where the length says {length}")
    return data
