"""Campaign events on the server's event stream (the ``GET /api/events`` hub, wired as
``lwm2m server`` wires it): typed ``campaignStatus`` and ``campaignDevice`` frames with the
campaign id, in order among the server's own events, and kept to one device by a stream that
follows an endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from lwm2m.firmware.campaign import CampaignSpec, Status, Target
from lwm2m.web import EventHub
from tests.campaigns import test_campaign
from tests.campaigns.test_campaign import Rig, finished

rig = test_campaign.rig  # the fixture: the server with firmware delivery, its campaign runner


Frame = tuple[str, dict[str, Any]]


async def _frames(stream: AsyncGenerator[str, None], until: str) -> list[Frame]:
    """The (event, data) of every frame until one whose data contains ``until``."""
    seen: list[Frame] = []
    while not any(until in json.dumps(data) for _, data in seen):
        chunk = await asyncio.wait_for(anext(stream), 30)
        for frame in chunk.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in frame.splitlines() if line[:1] != ":")
            if "data" in fields:
                seen.append((fields["event"], json.loads(fields["data"])))
    return seen


async def test_campaign_events_are_on_the_event_stream(rig: Rig) -> None:
    hub = EventHub(rig.server, flush_interval=0)
    rig.runner.subscribe(hub.publish)
    first, second = await rig.add(0, "udp"), await rig.add(1, "udp")
    await rig.registered(2)
    everything, followed = hub.open(), hub.open(endpoint=first)
    engine = rig.runner.create(CampaignSpec(rig.package.sha256, Target(endpoints=(first, second))))
    await finished(engine, 60)
    assert engine.record.status is Status.COMPLETED
    campaign = engine.record.id
    frames = await _frames(everything, '"completed"')
    kinds = {kind for kind, _ in frames}
    assert {"campaignStatus", "campaignDevice", "registered"} <= kinds  # among the server's
    ours = [(kind, data) for kind, data in frames if kind.startswith("campaign")]
    assert all(data["type"] == kind and data["campaign"] == campaign for kind, data in ours)
    statuses = [data["status"] for kind, data in ours if kind == "campaignStatus"]
    assert statuses == ["running", "completed"]
    last = {data["endpoint"]: data["state"] for kind, data in ours if kind == "campaignDevice"}
    assert last == {first: "succeeded", second: "succeeded"}
    mine = await _frames(followed, '"succeeded"')
    assert {data.get("endpoint") for kind, data in mine if kind == "campaignDevice"} == {first}
    hub.close()
