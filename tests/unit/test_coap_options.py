"""Option numbers, Block, typed accessors and build/replace, plus Code and its unknown values."""

from __future__ import annotations

import pytest

from lwm2m.coap import (
    EMPTY_OPTIONS,
    Block,
    Code,
    InvalidMessageError,
    OptionNumber,
    Options,
    Type,
)


def test_option_number_properties() -> None:
    """RFC 7252 §5.4.6: the low bits of the number say critical, unsafe and NoCacheKey."""
    assert OptionNumber.URI_PATH.critical and OptionNumber.URI_PATH.unsafe
    assert not OptionNumber.ETAG.critical and not OptionNumber.ETAG.unsafe
    assert OptionNumber.SIZE1.no_cache_key and OptionNumber.ECHO.no_cache_key
    assert not OptionNumber.REQUEST_TAG.no_cache_key
    assert OptionNumber.URI_QUERY.repeatable and OptionNumber.REQUEST_TAG.repeatable
    assert not OptionNumber.CONTENT_FORMAT.repeatable
    assert OptionNumber.ACCEPT.known


def test_option_number_keeps_unknown_values() -> None:
    unknown = OptionNumber(2049)
    assert unknown == 2049 and unknown.name == "OPTION_2049"
    assert unknown.critical and not unknown.known and not unknown.repeatable
    assert OptionNumber(2049) is unknown
    with pytest.raises(ValueError):
        OptionNumber(65536)


def test_code_properties_and_names() -> None:
    assert Code.CONTENT.dotted == "2.05" and str(Code.CONTENT) == "2.05 Content"
    assert str(Code.GET) == "0.01 GET"
    assert str(Code.REQUEST_ENTITY_TOO_LARGE) == "4.13 Request Entity Too Large"
    assert f"{Code.NOT_FOUND}" == "4.04 Not Found" and f"{Code.NOT_FOUND:02x}" == "84"
    assert Code.from_dotted("2.31") is Code.CONTINUE
    assert Code.from_dotted("7.01") is Code.CSM
    assert Code.GET.is_request and not Code.GET.is_response
    assert Code.CHANGED.is_success and Code.CHANGED.is_response and not Code.CHANGED.is_error
    assert Code.SERVICE_UNAVAILABLE.is_error and Code.BAD_OPTION.is_error
    assert Code.PING.is_signal and Code.EMPTY.is_empty
    for text in ("2.5", "8.00", "2.32", "205", "a.bc", ""):
        with pytest.raises(ValueError):
            Code.from_dotted(text)


def test_code_keeps_unknown_values() -> None:
    unknown = Code(0x5E)  # 2.30, unassigned
    assert unknown.dotted == "2.30" and str(unknown) == "2.30"
    assert unknown.is_success and Code(0x5E) is unknown
    assert Code(0x3F).is_request is False and Code(0x3F).is_response is False  # 1.31 reserved
    with pytest.raises(ValueError):
        Code(256)
    assert Type(2) is Type.ACK


def test_block() -> None:
    block = Block.from_uint(0x1E)
    assert block == Block(1, True, 6) and block.size == 1024 and block.offset == 1024
    assert Block.from_uint(block.to_uint()) == block
    for bad in ((1 << 20, False, 0), (0, False, 8), (-1, False, 0)):
        with pytest.raises(InvalidMessageError):
            Block(*bad)
    with pytest.raises(InvalidMessageError):
        Block.from_uint(1 << 24)


def test_build_and_typed_accessors() -> None:
    options = Options.build(
        uri_host="example.com",
        uri_port=5683,
        uri_path=["rd", "abc"],
        uri_query=["ep=node", "lt=300"],
        location_path=["rd", "x"],
        location_query=["q"],
        content_format=11543,
        accept=0,
        observe=0,
        block1=Block(2, True, 4),
        block2=Block(0, False, 6),
        size1=1 << 20,
        size2=7,
        etags=[b"\x01", b"\x02\x03"],
        if_match=[b""],
        if_none_match=True,
        max_age=0,
        proxy_uri="coap://x",
        proxy_scheme="coap",
        oscore=b"\x09",
        echo=b"\x01\x02",
        request_tag=b"",
        no_response=26,
        extra=[(65000, b"raw")],
    )
    assert options.uri_host == "example.com" and options.uri_port == 5683
    assert options.uri_path == ("rd", "abc") and options.uri_query == ("ep=node", "lt=300")
    assert options.location_path == ("rd", "x") and options.location_query == ("q",)
    assert options.content_format == 11543 and options.accept == 0 and options.observe == 0
    assert options.block1 == Block(2, True, 4) and options.block2 == Block(0, False, 6)
    assert options.size1 == 1 << 20 and options.size2 == 7
    assert options.etags == (b"\x01", b"\x02\x03") and options.if_match == (b"",)
    assert options.if_none_match and options.max_age == 0
    assert options.proxy_uri == "coap://x" and options.proxy_scheme == "coap"
    assert options.oscore == b"\x09" and options.echo == b"\x01\x02"
    assert options.request_tag == b"" and options.no_response == 26
    assert options.get(65000) == b"raw"
    numbers = [number for number, _ in options]
    assert numbers == sorted(numbers)
    assert options.unknown_critical() == ()
    assert options.unknown_critical(known=()) == (1, 3, 5, 7, 9, 11, 15, 17, 23, 27, 35, 39)


def test_absent_options() -> None:
    assert Options() == EMPTY_OPTIONS and len(EMPTY_OPTIONS) == 0
    assert EMPTY_OPTIONS.uri_path == () and EMPTY_OPTIONS.content_format is None
    assert EMPTY_OPTIONS.max_age == 60  # RFC 7252 §5.10.5 default
    assert EMPTY_OPTIONS.block2 is None and not EMPTY_OPTIONS.if_none_match
    assert EMPTY_OPTIONS.get(11) is None and EMPTY_OPTIONS.get_all(11) == ()


def test_replace() -> None:
    options = Options.build(uri_path=["a", "b"], content_format=0, observe=3, extra=[(999, b"x")])
    changed = options.replace(uri_path=["c"], observe=None, accept=60, extra=[(999, b"y")])
    assert changed.uri_path == ("c",) and changed.observe is None
    assert changed.accept == 60 and changed.content_format == 0
    assert changed.get_all(999) == (b"y",)
    assert options.uri_path == ("a", "b")  # the original is untouched
    assert changed.replace(if_none_match=False, uri_path=()) == Options.build(
        content_format=0, accept=60, extra=[(999, b"y")]
    )


def test_repeats_keep_order_and_equality() -> None:
    options = Options([(11, b"b"), (3, b"h"), (11, b"a")])
    assert list(options) == [(3, b"h"), (11, b"b"), (11, b"a")]
    assert options == Options([(3, b"h"), (11, b"b"), (11, b"a")])
    assert options != Options([(3, b"h"), (11, b"a"), (11, b"b")])
    assert hash(options) == hash(Options(list(options)))
    assert options != [(3, b"h")]
    with pytest.raises(AttributeError):
        options._items = ()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"uri_path": "3/0/0"},
        {"etags": b"\x01"},
        {"etags": [b""]},
        {"etags": [bytes(9)]},
        {"observe": 1 << 24},
        {"content_format": -1},
        {"content_format": True},
        {"uri_host": ""},
        {"echo": bytes(41)},
        {"extra": [(65536, b"")]},
        {"extra": [(5, "text")]},
    ],
)
def test_build_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidMessageError):
        Options.build(**kwargs)  # type: ignore[arg-type]


def test_build_rejects_unknown_keywords() -> None:
    with pytest.raises(TypeError, match="uri_paths"):
        Options.build(uri_paths=["x"])  # type: ignore[call-arg]


def test_value_too_long_to_encode() -> None:
    with pytest.raises(InvalidMessageError):
        Options([(2, bytes(65805))])


def test_build_with_one_keyword_matches_the_general_path() -> None:
    # One keyword takes a shortcut; a one-shot iterator must still be read exactly once.
    assert Options.build(uri_path=iter(["3", "0"])).uri_path == ("3", "0")
    assert Options.build(content_format=None) == Options()
    assert Options.build(echo=b"e") == Options([(252, b"e")])
    assert list(Options.build(content_format=11542, observe=0)) == list(
        Options.build(observe=0).replace(content_format=11542)
    )


def test_build_with_one_scalar_keyword_reads_its_value_once() -> None:
    with pytest.raises(InvalidMessageError, match="needs 300 bytes"):
        Options.build(oscore=iter(bytes(300)))  # type: ignore[arg-type]
