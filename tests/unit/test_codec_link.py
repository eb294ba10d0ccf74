"""Link format: syntax strictness, offsets, quoting, bounds and the codec's path lists."""

from __future__ import annotations

import time

import pytest

from lwm2m.codec import link as link_module
from lwm2m.codec.errors import DecodeError, EncodeError
from lwm2m.codec.link import Link, LinkFormatCodec, format_links, parse_links
from lwm2m.model import Path


def test_empty_document_and_valueless_attributes() -> None:
    assert parse_links("") == []
    (only,) = parse_links("</3/0>;obs;pmin=5")
    assert only.attributes == (("obs", None), ("pmin", "5"))
    assert "obs" in only.attributes and "pmax" not in only.attributes
    assert only.attributes.get("obs") is None and only.attributes.get("pmin") == "5"


def test_quoted_strings_unescape_and_reescape() -> None:
    (only,) = parse_links(r'</a>;title="say \"hi\" \\ there";x="a,b;c"')
    assert only.attributes.get("title") == 'say "hi" \\ there'
    assert only.attributes.get("x") == "a,b;c"
    assert parse_links(format_links([only])) == [only]


@pytest.mark.parametrize(
    "text",
    [
        r'</a>;rt=x;if="a\b";title="\"";c=""',
        '</a>;t="\\\\ x é"',
        '</a>;ct=60;obs,<>;rt="oma.lwm2m"',
    ],
)
def test_what_parses_formats_to_the_same_links(text: str) -> None:
    links = parse_links(text)
    assert parse_links(format_links(links)) == links


def test_control_characters_never_parse_so_every_parsed_link_formats() -> None:
    with pytest.raises(DecodeError, match="malformed value of parameter 'i'"):
        LinkFormatCodec().decode_links(b'<>;i="\\\x01"')


def test_links_past_the_size_cap_do_not_encode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_module, "MAX_TEXT", 20)
    links = parse_links("</a>;rt=x;rt=y;rt=z")
    with pytest.raises(EncodeError, match="exceeds 20"):
        LinkFormatCodec().encode_links(links)


def test_link_accepts_a_mapping_or_pairs() -> None:
    assert Link("/1", {"ver": "1.1"}) == Link("/1", [("ver", "1.1")])
    assert str(Link("/", {"rt": "oma.lwm2m", "ct": "60 110"})) == '</>;rt="oma.lwm2m";ct="60 110"'


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("/3/0", 0),
        ("</3/0", 0),
        ("</3 0>", 0),
        ("</3/0>,", 7),
        ("</3/0>,,</4>", 7),
        ("</3/0> ,</4>", 6),
        ("</3/0>;", 7),
        ("</3/0>;pmin=", 11),
        ('</3/0>;t="open', 8),
        ("</3/0>;a=b c", 10),
        ("</3/0>x", 6),
        ("</%zz>", 0),
        ('</a>;t="\x01"', 6),
        ('<>;i="\\\x01"', 4),
        ('<>;i="\\\x7f"', 4),
    ],
)
def test_syntax_errors_carry_offsets(text: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        parse_links(text)
    assert info.value.offset == offset


def test_codec_reports_byte_offsets_and_utf8_errors() -> None:
    codec = LinkFormatCodec()
    with pytest.raises(DecodeError) as info:
        codec.decode_links('</a>;t="é",x'.encode())
    assert info.value.offset == 12
    with pytest.raises(DecodeError) as info:
        codec.decode_links(b"</\xff>")
    assert info.value.offset == 2


def test_paths() -> None:
    codec = LinkFormatCodec()
    paths = [Path.of(3, 0, 1), Path.of(1, 0), Path.of(5)]
    assert codec.encode_paths(paths) == b"</3/0/1>,</1/0>,</5>"
    assert codec.decode_paths(b"</3/0/1>,</1/0>;pmin=1,</5>") == paths
    with pytest.raises(DecodeError):
        codec.decode_paths(b"</lwm2m/3>")


@pytest.mark.parametrize(
    "links",
    [[Link("a b")], [Link("/a", {"bad name": "1"})], [Link("/a", {"t": "\n"})]],
)
def test_format_errors(links: list[Link]) -> None:
    with pytest.raises(EncodeError):
        format_links(links)


def test_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_module, "MAX_LINKS", 3)
    monkeypatch.setattr(link_module, "MAX_ATTRIBUTES", 2)
    with pytest.raises(DecodeError, match="more than 3 links"):
        parse_links("</1>,</2>,</3>,</4>")
    with pytest.raises(DecodeError, match="more than 2 attributes"):
        parse_links("</1>;a;b;c")
    with pytest.raises(DecodeError, match="exceeds"):
        parse_links("<" + "a" * link_module.MAX_TEXT + ">")
    with pytest.raises(DecodeError, match="exceeds"):
        LinkFormatCodec().decode_links(b"<" + b"a" * link_module.MAX_TEXT + b">")


def test_hostile_inputs_stay_linear() -> None:
    size = 200_000
    for text in ('</a>;t="' + "\\a" * size, "</a>;" + "a" * size + '="', "<" + "/" * size):
        start = time.perf_counter()
        with pytest.raises(DecodeError):
            parse_links(text)
        assert time.perf_counter() - start < 0.5
