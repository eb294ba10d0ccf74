"""TS 27.007 information-text syntax: ``+NAME: <params>`` lines split into parameters.

Modules differ in spacing (``+CEREG:1`` / ``+CEREG: 1``) and in whether hex and bit-string
parameters are quoted; the splitter accepts both, so parsers see one form.
"""

from __future__ import annotations

from lwm2m.transport.modem.errors import ResponseFormatError

Params = tuple[str | None, ...]
"""Parameter texts with their quotes removed; None for an omitted one (``1,,3``)."""


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
    params: list[str | None] = []
    current: list[str] = []
    in_quotes = quoted = False
    for char in text:
        if in_quotes:
            if char == '"':
                in_quotes = False
            else:
                current.append(char)
        elif char == '"':
            in_quotes = quoted = True
        elif char == ",":
            params.append("".join(current) if current or quoted else None)
            current, quoted = [], False
        elif not char.isspace():
            current.append(char)
    if in_quotes:
        raise ResponseFormatError(f"unterminated quote in {text!r}")
    params.append("".join(current) if current or quoted else None)
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
