"""Send (``POST /dp``), Mute Send, and queue mode: sleeping, waking, stored notifications."""

from __future__ import annotations

import pytest

from lwm2m.client.engine import ClientConfig, ClientError, SendCompleted
from lwm2m.client.objects import SimpleObject
from lwm2m.coap.codes import Code
from lwm2m.coap.config import EndpointConfig
from lwm2m.codec import ContentFormat, default_codecs
from tests.protocol.client_harness import CLIENT, T0, Harness, P

SENML = default_codecs(lambda: T0).get(ContentFormat.SENML_CBOR)


def _set(h: Harness, path: str, value: int) -> None:
    p = P(path)
    obj = h.tree.object(p.ids[0])
    assert isinstance(obj, SimpleObject)
    obj.set(p.ids[1], p.ids[2], value)


def test_send_timestamped_senml_cbor() -> None:
    h = Harness()
    h.start()
    h.advance(10)
    [send_id] = h.engine.send([P("/3/0/9"), P("/4/0")], h.now)
    sent_at = h.now
    h.advance(1)
    [request] = h.server.of("dp")
    assert request.message.code is Code.POST
    assert request.message.options.content_format == ContentFormat.SENML_CBOR
    [batch] = SENML.decode_timestamped(request.message.payload, h.tree.models)
    assert batch.timestamp == pytest.approx(sent_at)
    assert batch.values[P("/3/0/9")] == 100
    assert P("/4/0/2") in batch.values
    assert h.of_type(SendCompleted) == [SendCompleted(send_id, 1, Code.CHANGED)]


def test_send_needs_a_registration_and_real_paths() -> None:
    h = Harness()
    with pytest.raises(ClientError, match="not registered"):
        h.engine.send([P("/3/0/9")], h.now)
    h.start()
    with pytest.raises(ClientError, match="4242"):
        h.engine.send([P("/3/0/4242")], h.now)
    assert not h.server.of("dp")


def test_mute_send() -> None:
    h = Harness(ssids=(1, 2))
    h.start()
    assert h.ask(Code.PUT, "1/0/23", payload=b"1", content_format=0).code is Code.CHANGED
    with pytest.raises(ClientError, match="muted"):
        h.engine.send([P("/3/0/9")], h.now, server_id=1)
    assert len(h.engine.send([P("/3/0/9")], h.now)) == 1  # only server 2 gets it
    h.advance(1)
    assert not h.servers[1].of("dp")
    assert h.servers[2].of("dp")


def test_send_without_answer_completes_with_none() -> None:
    h = Harness()
    h.start()
    h.server.reachable = False
    [send_id] = h.engine.send([P("/3/0/9")], h.now)
    h.advance(200)
    assert SendCompleted(send_id, 1, None) in h.events


# -- queue mode -----------------------------------------------------------------------------


def _queue(window: float = 20.0, lifetime: int = 300) -> Harness:
    h = Harness(binding="UQ", lifetime=lifetime, config=ClientConfig(awake_window=window))
    h.start()
    return h


def test_sleeps_after_the_awake_window_and_drops_requests() -> None:
    h = _queue()
    assert not h.engine.asleep
    assert h.ask(Code.GET, "3/0/9").payload == b"100"  # awake: served
    h.advance(21)
    assert h.engine.asleep
    handle = h.server.request(Code.GET, "3/0/9")
    h.advance(150)
    assert handle not in h.server.responses
    assert handle in h.server.failures
    assert not [w for w in h.wire if w[1] == CLIENT and w[0] > h.now - 150]


def test_sleeps_when_the_register_is_answered_after_the_awake_window() -> None:
    """The window ends while the Register is in flight (a slow server, a busy loop): the
    client waits for the answer, which starts queue mode, then sleeps."""
    h = _queue(window=0.02)  # shorter than the Register's round trip (2 x 50 ms)
    assert h.server.of("rd")
    assert h.engine.asleep


def test_default_awake_window_is_max_transmit_wait() -> None:
    h = Harness(binding="UQ", lifetime=3600)
    h.start()
    h.advance(91)
    assert not h.engine.asleep
    h.advance(2)
    assert h.engine.asleep


def test_wakes_for_the_update_and_listens_again() -> None:
    h = _queue(lifetime=300)
    h.advance(100)
    assert h.engine.asleep
    h.advance(120)  # the Update is due at about 207 s
    assert h.server.of("rd/5a3f")
    assert not h.engine.asleep
    assert h.ask(Code.GET, "3/0/9").payload == b"100"


def test_notifications_while_asleep_are_stored_and_sent_on_wake() -> None:
    h = _queue(lifetime=300)
    handle = h.server.request(Code.GET, "3/0/9", observe=0)
    h.advance(25)
    assert h.engine.asleep
    for level in (90, 80):
        _set(h, "/3/0/9", level)
        h.advance(30)
    assert h.server.notifications.get(handle, []) == []
    h.engine.send([P("/3/0/0")], h.now)  # waking up for a Send
    h.advance(5)
    received = [r.message.payload for r in h.server.notifications[handle]]
    assert received == [b"90", b"80"]


def test_without_notification_storing_they_are_dropped() -> None:
    h = _queue(lifetime=300)
    assert h.ask(Code.PUT, "1/0/6", payload=b"0", content_format=0).code is Code.CHANGED
    handle = h.server.request(Code.GET, "3/0/9", observe=0)
    h.advance(25)
    _set(h, "/3/0/9", 90)
    h.advance(200)  # past the Update
    assert h.server.of("rd/5a3f")
    assert h.server.notifications.get(handle, []) == []
    h.engine.trigger_update(h.now)
    _set(h, "/3/0/9", 70)  # awake: sent at once
    h.advance(1)
    assert [r.message.payload for r in h.server.notifications[handle]] == [b"70"]


def test_queue_mode_needs_every_server_in_it() -> None:
    h = Harness(ssids=(1, 2), binding="UQ", config=ClientConfig(awake_window=10))
    h.start()
    assert h.ask(Code.PUT, "1/1/7", ssid=2, payload=b"U", content_format=0).code is Code.CHANGED
    h.advance(60)
    assert not h.engine.asleep


def test_retransmissions_keep_the_radio_on() -> None:
    h = Harness(
        binding="UQ",
        config=ClientConfig(awake_window=5),
    )
    h.start()
    h.server.reachable = False
    h.engine.trigger_update(h.now)
    h.advance(30)
    assert not h.engine.asleep  # the Update is still being retransmitted
    assert EndpointConfig().max_transmit_wait > 30
