"""``lwm2m decode`` / ``lwm2m encode``: exit status, one-line errors, flat JSON values."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def lwm2m(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "lwm2m.cli.main", *args],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


DEVICE_VALUES = {"/3/0/0": "Example Corp", "/3/0/7/0": 3800, "/3/0/7/1": 5000, "/3/0/9": 87}


@pytest.mark.parametrize("fmt", ["tlv", "senml-json", "senml-cbor", "lwm2m-json", "11544"])
def test_encode_then_decode_gives_the_values_back(fmt: str) -> None:
    encoded = lwm2m(
        "encode", "--format", fmt, "--path", "/3/0", stdin=json.dumps(DEVICE_VALUES).encode()
    )
    assert encoded.returncode == 0, encoded.stderr
    decoded = lwm2m("decode", "--format", fmt, "--path", "/3/0", stdin=encoded.stdout)
    assert decoded.returncode == 0, decoded.stderr
    assert json.loads(decoded.stdout) == DEVICE_VALUES


def test_hex_round_trip_and_composite_decode() -> None:
    encoded = lwm2m("encode", "-f", "senml-cbor", "--hex", stdin=b'{"/3/0/0": "X", "/1/0/1": 300}')
    assert encoded.returncode == 0, encoded.stderr
    decoded = lwm2m("decode", "-f", "112", "--hex", stdin=encoded.stdout)
    assert json.loads(decoded.stdout) == {"/1/0/1": 300, "/3/0/0": "X"}


def test_opaque_and_object_links_print_as_text() -> None:
    # /3/0/17 Device Type is a string; /1/0/10 APN Link is an object link.
    decoded = lwm2m("decode", "-f", "tlv", "-p", "/1/0/10", "--hex", stdin=b"c80a 0400 0b00 00")
    assert decoded.returncode == 0, decoded.stderr
    assert json.loads(decoded.stdout) == {"/1/0/10": "11:0"}


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("decode", "-f", "tlv", "-p", "/3/0", "--hex"), b"zz", "invalid hex digit at offset 0"),
        (("decode", "-f", "tlv", "-p", "/3/0"), b"\xc8\x00\x20abc", "at byte 0"),
        (("encode", "-f", "tlv", "-p", "/3/0"), b'{"/3/0/9": "high"}', "at /3/0/9"),
        (("encode", "-f", "tlv", "-p", "/3/0"), b'{"/3/0/9": ', "invalid JSON at byte"),
        (("decode", "-f", "nope"), b"", "unknown content format"),
        (("decode", "-f", "link"), b"</1/0>,<", "at byte"),
        (("decode", "-f", "tlv", "-p", "/3/x"), b"", "not a decimal ID"),
        (("decode", "-f", "tlv"), b"\xc1\x09\x57", "cannot carry composite values"),
    ],
)
def test_malformed_input_exits_1_with_one_line(
    args: tuple[str, ...], stdin: bytes, message: str
) -> None:
    result = lwm2m(*args, stdin=stdin)
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr.decode()
