"""The northbound's pure parts: topic escaping, allow-lists, broker URLs, the spool, formats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.model import Path as LwPath
from lwm2m.model import TimestampedValues, builtin_models
from lwm2m.northbound.commands import AllowList, AllowRule
from lwm2m.northbound.messages import Format, MessageFormatter
from lwm2m.northbound.settings import BrokerSettings
from lwm2m.northbound.spool import Spool
from lwm2m.northbound.topics import escape_endpoint, parse_request, unescape_endpoint
from lwm2m.server.events import NotificationReceived, SendReceived


@pytest.mark.parametrize(
    ("endpoint", "level"),
    [
        ("urn:imei:356938035643809", "urn:imei:356938035643809"),
        ("a/b", "a%2Fb"),
        ("a+b#c", "a%2Bb%23c"),
        ("dev.1*>", "dev%2E1%2A%3E"),
        ("50%", "50%25"),
        ("ümlaut dev", "%C3%BCmlaut%20dev"),
    ],
)
def test_endpoint_names_become_one_level(endpoint: str, level: str) -> None:
    assert escape_endpoint(endpoint) == level
    assert unescape_endpoint(level) == endpoint


@given(st.text())
def test_escaping_is_reversible_and_never_holds_a_separator(endpoint: str) -> None:
    level = escape_endpoint(endpoint)
    assert not set(level) & set("/+#.*> \0")
    if not any(0xD800 <= ord(c) < 0xE000 for c in endpoint):  # lone surrogates: no UTF-8
        assert unescape_endpoint(level) == endpoint


def test_a_request_topic_must_be_canonical() -> None:
    assert parse_request(("lwm2m", "a%2Fb", "req", "read")) == ("a/b", "read")
    with pytest.raises(ValueError):
        parse_request(("lwm2m", "a%2fb", "req", "read"))  # lowercase: another spelling
    with pytest.raises(ValueError):
        parse_request(("lwm2m", "dev%41", "req", "read"))  # %41 is "A", kept as is
    with pytest.raises(ValueError):
        parse_request(("lwm2m", "dev", "res", "read"))


def test_allow_rules() -> None:
    allow = AllowList.parse(["sensor-*=read,observe", "admin=*"])
    assert allow.allows("sensor-7", "read") and allow.allows("sensor-7", "observe")
    assert not allow.allows("sensor-7", "write")
    assert allow.allows("admin", "execute")
    assert not allow.allows("other", "read")
    assert not AllowList()
    with pytest.raises(ValueError, match="unknown operation"):
        AllowRule.parse("x=delete")
    with pytest.raises(ValueError, match="PATTERN"):
        AllowRule.parse("read")


def test_broker_urls() -> None:
    mqtt = BrokerSettings.parse("mqtt://user:p%40ss@broker:1884", "mqtt")
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.password) == ("broker", 1884, "user", "p@ss")
    assert "p@ss" not in repr(mqtt) and mqtt.where == "mqtt://broker:1884"
    assert BrokerSettings.parse("mqtts://broker", "mqtt").port == 8883
    assert BrokerSettings.parse("nats://broker", "nats").port == 4222
    for url, kind in [("nats://x", "mqtt"), ("mqtt://", "mqtt"), ("mqtt://h/topic", "mqtt")]:
        with pytest.raises(ValueError):
            BrokerSettings.parse(url, kind)


def test_the_spool_keeps_order_and_survives_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    seqs = [spool.append(f"t/{n}", bytes([n])) for n in range(10)]
    assert seqs == sorted(seqs)
    spool.commit()
    spool.remove_through(seqs[3])
    spool.close()
    again = Spool(tmp_path / "s")
    assert [e.topic for e in again.read(0, 100)] == [f"t/{n}" for n in range(4, 10)]
    assert len(again) == 6 and again.size == 6
    (first,) = again.read(0, 1)
    assert first.msg_id == f"{again.spool_id}-{first.seq}"
    again.remove_through(seqs[-1])
    assert again.append("t/new", b"x") == seqs[-1] + 1  # never reused


def test_a_full_spool_refuses_new_messages(tmp_path: Path) -> None:
    spool = Spool(":memory:", max_messages=3, max_bytes=100)
    assert all(spool.append("t", b"x") is not None for _ in range(3))
    assert spool.append("t", b"x") is None
    assert spool.dropped == 1
    bytes_bound = Spool(":memory:", max_bytes=10)
    assert bytes_bound.append("t", b"0123456789") is not None
    assert bytes_bound.append("t", b"x") is None


def test_senml_format_for_notifications_and_send() -> None:
    formatter = MessageFormatter(Format.SENML, builtin_models())
    path = LwPath.parse("/3303/0/5700")
    note = formatter.message(NotificationReceived("a/b", path, {path: 21.5}, 112, 3), 0.0)
    assert note.topic == "lwm2m/a%2Fb/notify/3303/0/5700"
    assert json.loads(note.payload) == [{"bn": "/3303/0/", "n": "5700", "v": 21.5}]
    batch = TimestampedValues(1700000000.0, {path: 22.0})
    sent = formatter.message(SendReceived("a/b", (batch,)), 0.0)
    assert sent.topic == "lwm2m/a%2Fb/send"
    assert json.loads(sent.payload)[0]["bt"] == 1700000000.0
    nan = formatter.message(NotificationReceived("a", path, {path: math.nan}, 112, 4), 5.0)
    assert json.loads(nan.payload)["values"] == {"/3303/0/5700": "nan"}  # SenML cannot: JSON


def test_server_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from lwm2m.cli.northbound import add_northbound_arguments, northbound_options
    from lwm2m.cli.payload import InputError

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=str(tmp_path / "x.db"))
    add_northbound_arguments(parser)
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    options = northbound_options(
        parser.parse_args(
            [
                "--mqtt",
                "mqtt://app@broker",
                "--mqtt-password-file",
                str(secret),
                "--nats",
                "nats://127.0.0.1",
                "--northbound-allow",
                "dev-*=read",
            ]
        )
    )
    assert options.mqtt is not None and options.mqtt.password == "s3cret"
    assert options.nats is not None and options.nats.port == 4222
    assert options.spool_dir == str(tmp_path) and options.allow.allows("dev-1", "read")
    monkeypatch.setenv("LWM2M_MQTT_PASSWORD", "other")
    with pytest.raises(InputError, match="one place"):
        northbound_options(
            parser.parse_args(["--mqtt", "mqtt://a@b", "--mqtt-password-file", str(secret)])
        )
    for bad in (["--northbound-allow", "x=reboot"], ["--mqtt", "nats://b"]):
        with pytest.raises(InputError):
            northbound_options(parser.parse_args(bad))
    memory = northbound_options(parser.parse_args(["--db", ":memory:"]))
    assert memory.spool_dir is None and memory.mqtt is None
