"""The client engine against bad values and broken device code: a refused write is 4.00, a
handler that raises is 5.00, and in every case the engine keeps serving and updating."""

from __future__ import annotations

import random

import pytest

from lwm2m.client.engine import Updated
from lwm2m.client.objects import SimpleObject
from lwm2m.client.registration import State
from lwm2m.coap.codes import Code
from lwm2m.codec import ContentFormat
from lwm2m.model import ObjectModel, Operations, ResourceModel, ResourceType
from tests.protocol.client_harness import Harness

TEXT = ContentFormat.TEXT


def _lifetimes(h: Harness) -> list[str]:
    return [q for r in h.server.of("rd/5a3f", Code.POST) for q in r.message.options.uri_query]


@pytest.mark.parametrize("bad", [b"-5", b"0", b"2147483648"])
def test_a_bad_lifetime_is_4_00_and_a_good_one_still_updates(bad: bytes) -> None:
    h = Harness(lifetime=300)
    h.start()
    assert h.ask(Code.PUT, "/1/0/1", payload=bad, content_format=TEXT).code == Code.BAD_REQUEST
    assert h.ask(Code.GET, "/1/0/1").payload == b"300"
    assert h.ask(Code.PUT, "/1/0/1", payload=b"600", content_format=TEXT).code == Code.CHANGED
    h.advance(5)
    assert _lifetimes(h) == ["lt=600"]
    assert h.of_type(Updated) == [Updated(1)]


def test_a_bootstrap_style_create_of_a_bad_account_is_refused() -> None:
    h = Harness()
    servers = h.tree.object(1)
    assert isinstance(servers, SimpleObject)
    with pytest.raises(Exception, match=r"outside 1\.\.") as caught:
        servers.create(5, {0: 9, 1: 0, 7: "U"})
    assert "/1/5/1" in str(caught.value)


_BROKEN = ObjectModel(
    id=33001,
    name="Broken",
    multiple=False,
    mandatory=False,
    resources={
        0: ResourceModel(0, "Value", Operations.RW, False, False, ResourceType.INTEGER),
        1: ResourceModel(1, "Run", Operations.E, False, False, ResourceType.NONE),
    },
)


class _HandlerBugError(Exception):
    pass


def _broken_object(state: dict[str, bool]) -> SimpleObject:
    def read(iid: int) -> int:
        if state["broken"]:
            raise _HandlerBugError("sensor gone")
        return 7

    def fail(*_: object) -> None:
        raise _HandlerBugError("handler bug")

    return SimpleObject(_BROKEN, {0: {}}, readers={0: read}, writers={0: fail}, executors={1: fail})


def test_a_handler_that_raises_is_5_00_and_the_client_keeps_updating() -> None:
    h = Harness(lifetime=300)
    state = {"broken": False}
    h.tree.add(_broken_object(state))
    h.start()
    observe = h.server.request(Code.GET, "/33001/0/0", observe=0)
    h.advance(2)
    assert h.server.responses[observe].code == Code.CONTENT
    state["broken"] = True
    assert h.ask(Code.GET, "/33001/0/0").code == Code.INTERNAL_SERVER_ERROR
    assert h.ask(Code.PUT, "/33001/0/0", payload=b"1", content_format=TEXT).code == (
        Code.INTERNAL_SERVER_ERROR
    )
    assert h.ask(Code.POST, "/33001/0/1").code == Code.INTERNAL_SERVER_ERROR
    h.tree.object(33001).notify_changed(h.tree.object(33001).path(0, 0))  # device code
    h.advance(1)
    (ended,) = h.server.ended.values()
    assert ended is not None and ended.code == Code.INTERNAL_SERVER_ERROR
    assert h.ask(Code.PUT, "/1/0/1", payload=b"400", content_format=TEXT).code == Code.CHANGED
    h.advance(400)
    assert _lifetimes(h)[0] == "lt=400" and len(h.of_type(Updated)) >= 2
    assert h.engine.registrations[1].state is State.REGISTERED


_PATHS = [
    "",
    "/1",
    "/1/0",
    "/1/0/1",
    "/1/0/2",
    "/1/0/3",
    "/1/0/6",
    "/1/0/8",
    "/1/0/23",
    "/3",
    "/3/0",
    "/3/0/0",
    "/3/0/13",
    "/3/0/14",
    "/3/0/6",
    "/3/0/6/0",
    "/3/0/4",
    "/4/0",
    "/5/0/1",
    "/6/0",
    "/0/0",
    "/21",
    "/33001/0/0",
    "/33001/0/1",
    "/9/9",
    "/3/0/99",
    "/65535/0",
    "/2",
    "/2/0/2",
    "/19/0/0",
    "/19/0/0/0",
]
_FORMATS = [None, 0, 42, 60, 110, 112, 11542, 11543, 11544, 40, 9999]
_CODES = [Code.GET, Code.PUT, Code.POST, Code.DELETE, Code.FETCH, Code.IPATCH]
_QUERIES = [(), ("pmin=1",), ("pmax=2", "gt=5"), ("pmin=x",), ("ep=1",), ("st=-1",), ("",)]
_SAMPLES = [b"", b"1", b"-5", b"600", b"\xa1\x00", b"\x81\xa2\x00a/\x02\x01", b"\xc1\x01\x05"]


def _payload(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return rng.choice(_SAMPLES)
    return rng.randbytes(rng.randrange(0, 64))


@pytest.mark.parametrize("seed", range(8))
def test_fuzzed_dm_requests_are_all_answered_and_updates_still_flow(seed: int) -> None:
    """Random operations, paths, formats and payloads as a server would send them: every one
    is answered, nothing escapes the engine, and the registration keeps updating."""
    rng = random.Random(seed)
    h = Harness(lifetime=300, seed=seed)
    h.tree.add(_broken_object({"broken": seed % 2 == 1}))
    h.start()
    handles = []
    for _ in range(60):
        options: dict[str, object] = {}
        fmt, accept = rng.choice(_FORMATS), rng.choice(_FORMATS)
        if fmt is not None:
            options["content_format"] = fmt
        if accept is not None and rng.random() < 0.3:
            options["accept"] = accept
        if rng.random() < 0.2:
            options["observe"] = rng.choice([0, 1])
        query = rng.choice(_QUERIES)
        if query:
            options["uri_query"] = query
        handles.append(
            h.server.request(
                rng.choice(_CODES), rng.choice(_PATHS), payload=_payload(rng), **options
            )
        )
        h.advance(rng.choice([0.1, 1.0, 3.0]))
    h.advance(5)
    assert all(handle in h.server.responses for handle in handles)
    updates = len(h.of_type(Updated))
    h.engine.trigger_update(h.now)
    h.advance(5)
    assert len(h.of_type(Updated)) == updates + 1
    assert h.engine.registrations[1].online
