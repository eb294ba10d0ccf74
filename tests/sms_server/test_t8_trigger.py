"""Waking a NIDD device by T8 device triggering, against the emulated operator network
(``lwm2m network``'s service, in process): a read queued for the sleeping queue-mode device
creates one triggering transaction carrying the NON POST /1/0/8 bytes, its body validated with
openapi-core against TS29122_DeviceTriggering.yaml; the device wakes and the read is answered;
``POST /wake`` creates another; delivery reports reach the server's /t8 route."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

from lwm2m.coap.codes import Code, Type
from lwm2m.coap.message import Message
from lwm2m.server import ServerEvent
from lwm2m.server.events import DeviceWoken, WakeFailed, WakeTriggered
from lwm2m.transport.nidd import t8
from lwm2m.transport.sms.binding import Trigger, trigger_datagram
from tests.network.spec import bundled
from tests.nidd.test_server_nidd import (
    EP,
    TOKEN,
    Rig,
    _asleep,
    _configured,
    _value,
    _wake,
    eventually,
    rig,  # noqa: F401  (the fixture)
)

TRIGGERS: list[dict[str, Any]] = []
"""Every triggering request the server made, validated against the 3GPP file."""


async def _validated(request: httpx.Request) -> None:
    if not request.url.path.startswith(t8.TRIGGERING_API):
        return
    mock = MockRequest(
        "http://t8.test",
        request.method.lower(),
        request.url.path,
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json"),
    )
    OpenAPI.from_dict(bundled("triggering")).validate_request(mock)  # raises when not valid
    TRIGGERS.append(json.loads(request.content))


class ValidatingT8Client(t8.T8Client):
    def __init__(self, base_url: str, scs_as_id: str, **options: Any) -> None:
        timeout = options.pop("timeout", 10.0)
        client = httpx.AsyncClient(timeout=timeout, event_hooks={"request": [_validated]})
        super().__init__(base_url, scs_as_id, client=client, **options)


@pytest.fixture(autouse=True)
def validated_triggering(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's triggering client validates its requests (before ``rig`` starts it)."""
    monkeypatch.setattr(t8, "T8Client", ValidatingT8Client)
    TRIGGERS.clear()


@pytest.mark.timeout(60)
async def test_a_queued_read_wakes_the_nidd_device_by_t8_device_triggering(
    rig: Rig,  # noqa: F811  (the fixture imported above)
) -> None:
    events: list[ServerEvent] = []
    rig.server.subscribe(events.append)
    await _configured(rig)
    await rig.device(binding="NQ", active_time=4)
    await _asleep(rig)
    await asyncio.sleep(1.2)  # past the awake window: the server queues
    read = asyncio.ensure_future(rig.server.read(EP, "/3/0/0", timeout=30))
    second = asyncio.ensure_future(rig.server.read(EP, "/3/0/0", timeout=30))  # same tick

    [body] = await eventually(lambda: TRIGGERS)
    destination = f"http://127.0.0.1:{rig.web.url.rsplit(':', 1)[1]}/t8/{TOKEN}/triggering"
    payload = base64.b64decode(body.pop("triggerPayload"))
    assert body == {
        "externalId": rig.peer.value,
        "validityPeriod": 300,
        "priority": "NO_PRIORITY",
        "applicationPortId": 5683,
        "notificationDestination": destination,
    }
    trigger = Message.decode(payload)
    assert (trigger.type, trigger.code, trigger.options.uri_path) == (
        Type.NON,
        Code.POST,
        ("1", "0", "8"),
    )
    assert payload == trigger_datagram(Trigger.REGISTRATION_UPDATE, 0, trigger.message_id)
    await eventually(lambda: [e for e in events if isinstance(e, WakeTriggered)])
    [transaction] = rig.network.scef.triggering.resources.values()
    assert transaction.identity == ("externalId", rig.peer.value)
    assert base64.b64decode(transaction.fields["triggerPayload"]) == payload
    assert [e.channel for e in events if isinstance(e, WakeTriggered)] == ["t8"]
    assert len(TRIGGERS) == 1 and not read.done()  # one trigger for both queued reads

    _wake(rig)  # the emulator does not deliver triggers yet: the device wakes by itself
    assert _value(await read) == _value(await second) == "lwm2m project"
    assert [e.channel for e in events if isinstance(e, DeviceWoken)] == ["t8"]

    async with httpx.AsyncClient(base_url=rig.web.url) as http:
        sent = await http.post(f"/api/clients/{EP}/wake", json={"channel": "t8"})
        assert sent.status_code == 200, sent.text
        link = sent.json()["transaction"]
        assert link in {t.link for t in rig.network.scef.triggering.resources.values()}
        assert len(TRIGGERS) == 2 and sent.json()["to"] == str(rig.peer)
        assert (
            await http.post(f"/api/clients/{EP}/wake", json={"channel": "sms"})
        ).status_code == 409

        # the SCEF's delivery report: a failed trigger is reported, strangers are refused
        report = {"transaction": link, "result": "FAILURE"}
        assert (await http.post(f"/t8/{'x' * 20}/triggering", json=report)).status_code == 404
        assert (await http.post(f"/t8/{TOKEN}/triggering", json={"x": 1})).status_code == 400
        assert (await http.post(f"/t8/{TOKEN}/triggering", json=report)).status_code == 204
        assert (await http.post(f"/t8/{TOKEN}/triggering", json=report)).status_code == 404
    [failed] = [e for e in events if isinstance(e, WakeFailed)]
    assert isinstance(failed, WakeFailed) and failed.reason == "trigger FAILURE"
