"""Execute arguments: the Core 5.4.5 grammar, both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.coap.codes import Code
from lwm2m.operations import (
    ExecuteArgument,
    OperationError,
    OperationUsageError,
    format_arguments,
    parse_arguments,
)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", ()),
        (b"0", (ExecuteArgument(0),)),
        (b"0='abc',1", (ExecuteArgument(0, "abc"), ExecuteArgument(1))),
        (b"5=''", (ExecuteArgument(5, ""),)),
        (b"2='a,b',3='x=y'", (ExecuteArgument(2, "a,b"), ExecuteArgument(3, "x=y"))),
        (b"9='http://example.com/fw?x=1'", (ExecuteArgument(9, "http://example.com/fw?x=1"),)),
    ],
)
def test_valid_arguments(payload: bytes, expected: tuple[ExecuteArgument, ...]) -> None:
    assert parse_arguments(payload) == expected
    assert format_arguments(expected) == payload


@pytest.mark.parametrize(
    "payload",
    [
        b"a",
        b"10",
        b"0=abc",
        b"0='abc",
        b"0='a b'",  # space is not an argval
        b"0='a\"b'",
        b"0='a\\b'",
        b"0='it''s'",
        b"0,",
        b",0",
        b"0;1",
        b"0='\xc3\xa9'",
        b" 0",
    ],
)
def test_malformed_arguments_are_4_00(payload: bytes) -> None:
    with pytest.raises(OperationError) as info:
        parse_arguments(payload)
    assert info.value.code == Code.BAD_REQUEST


@pytest.mark.parametrize(("digit", "value"), [(10, None), (-1, None), (0, "a'b"), (0, "a b")])
def test_local_arguments_are_checked(digit: int, value: str | None) -> None:
    with pytest.raises(OperationUsageError):
        ExecuteArgument(digit, value)


_argval = st.text(
    st.sampled_from([chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"'\\"]), max_size=20
)


@given(st.lists(st.builds(ExecuteArgument, st.integers(0, 9), st.none() | _argval), max_size=10))
def test_round_trip(arguments: list[ExecuteArgument]) -> None:
    assert parse_arguments(format_arguments(arguments)) == tuple(arguments)


@given(st.binary(max_size=40))
def test_any_payload_parses_or_gives_4_00(payload: bytes) -> None:
    try:
        parse_arguments(payload)
    except OperationError as exc:
        assert exc.code == Code.BAD_REQUEST
