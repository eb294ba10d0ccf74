"""Execute arguments (Core 5.4.5): ``0='abc',1`` and nothing else.

The grammar, in ABNF::

    arglist  = argument *( "," argument )
    argument = digit [ "=" "'" *argval "'" ]
    digit    = %x30-39
    argval   = %x21 / %x23-26 / %x28-5B / %x5D-7E

so a value is printable ASCII without space, double quote, single quote or backslash.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lwm2m.coap.codes import Code
from lwm2m.operations.errors import OperationError, OperationUsageError

_ARGVAL = r"[\x21\x23-\x26\x28-\x5b\x5d-\x7e]*"
_ARGUMENT = re.compile(rf"([0-9])(?:='({_ARGVAL})')?")
_VALUE = re.compile(_ARGVAL)


@dataclass(frozen=True, slots=True)
class ExecuteArgument:
    """Argument ``digit`` with an optional value (``None``: the argument has no ``=''`` part)."""

    digit: int
    value: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.digit <= 9:
            raise OperationUsageError(f"execute argument {self.digit} is not a digit 0..9")
        if self.value is not None and not _VALUE.fullmatch(self.value):
            raise OperationUsageError(
                f"execute argument value {self.value!r:.40} has characters Core 5.4.5 forbids"
            )

    def __str__(self) -> str:
        return str(self.digit) if self.value is None else f"{self.digit}='{self.value}'"


def format_arguments(arguments: Sequence[ExecuteArgument]) -> bytes:
    return ",".join(str(argument) for argument in arguments).encode("ascii")


def parse_arguments(payload: bytes) -> tuple[ExecuteArgument, ...]:
    """The arguments of an Execute payload; an empty payload has none, bad syntax is 4.00."""
    if not payload:
        return ()
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        raise OperationError(Code.BAD_REQUEST, "execute arguments are not ASCII") from None
    out = []
    # argval admits ",", so arguments are matched one at a time rather than split on commas.
    pos = 0
    while True:
        match = _ARGUMENT.match(text, pos)
        if match is None:
            break
        out.append(ExecuteArgument(int(match[1]), match[2]))
        pos = match.end()
        if pos == len(text):
            return tuple(out)
        if text[pos] != ",":
            break
        pos += 1
    raise OperationError(
        Code.BAD_REQUEST, f"bad execute arguments at character {pos}: {text[pos:]!r:.40}"
    )
