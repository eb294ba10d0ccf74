"""``/api/models`` names every object the server knows, the OMA registry's included, without
parsing their definitions; the detail route loads one on demand (what the console reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lwm2m.cli.payload import load_models
from lwm2m.server import LwM2MServer
from lwm2m.web import create_app

from .test_catalog import TEMPERATURE_1_2


async def _http(server: LwM2MServer) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(server))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with await _http(LwM2MServer()) as client:
        yield client


async def test_the_list_names_every_registry_object(http: httpx.AsyncClient) -> None:
    listed = (await http.get("/api/models")).json()
    by_id = {model["id"]: model for model in listed}
    assert len(listed) > 300 and [model["id"] for model in listed] == sorted(by_id)
    assert by_id[3303] == {
        "id": 3303,
        "name": "Temperature",
        "multiple": True,
        "mandatory": False,
        "version": "1.1",
        "lwm2mVersion": "1.0",
        "urn": "urn:oma:lwm2m:ext:3303:1.1",
    }
    assert by_id[3]["version"] == "1.1"  # the built-in edition, not the registry's 1.2


async def test_the_detail_of_a_registry_object(http: httpx.AsyncClient) -> None:
    temperature = (await http.get("/api/models/3303")).json()
    resources = {resource["id"]: resource for resource in temperature["resources"]}
    assert {5700, 5701, 5601, 5602, 5603, 5604, 5605} <= set(resources)
    assert resources[5700] | {"description": ""} == {
        "id": 5700,
        "name": "Sensor Value",
        "operations": "R",
        "multiple": False,
        "mandatory": True,
        "type": "float",
        "range": "",
        "units": "",
        "description": "",
    }
    assert (resources[5605]["operations"], resources[5605]["type"]) == ("E", "none")
    assert (await http.get("/api/models/32769")).status_code == 404


async def test_models_given_to_the_server_are_listed_and_described(tmp_path: Path) -> None:
    (tmp_path / "site.xml").write_bytes(TEMPERATURE_1_2)
    async with await _http(LwM2MServer(models=load_models([str(tmp_path)]))) as http:
        listed = {model["id"]: model for model in (await http.get("/api/models")).json()}
        assert (listed[3303]["name"], listed[3303]["version"]) == ("Site Temperature", "1.2")
        detail = (await http.get("/api/models/3303")).json()
        assert [resource["id"] for resource in detail["resources"]] == [5700]
