"""Bootstrap configurations (JSON form, checks, keys never shown), the Bootstrap-interface
rules, the Bootstrap-Discover inventory and the request plan."""

from __future__ import annotations

import json
import socket
from pathlib import Path as FilePath
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.bootstrap import BootstrapConfig, ConfigError, ConfigStore
from lwm2m.bootstrap.plan import plan
from lwm2m.cli.main import main
from lwm2m.coap import Code
from lwm2m.codec.link import format_links, parse_links
from lwm2m.model import ObjectInstance, ObjectNode, Path, SingleResource
from lwm2m.operations import (
    BootstrapFinish,
    Create,
    Delete,
    Discover,
    Execute,
    Inventory,
    InventoryEntry,
    OperationError,
    Read,
    Write,
    check_bootstrap,
)
from lwm2m.web.bootstrap_api import create_bootstrap_app as create_app

KEY = "00112233445566778899aabbccddeeff"
PSK = {
    "shortServerId": 1,
    "uri": "coaps://10.0.0.1:5684",
    "securityMode": "psk",
    "identity": "dev-1",
    "key": KEY,
}
NOSEC = {"shortServerId": 2, "uri": "coap://10.0.0.1:5683", "lifetime": 300, "binding": "UQ"}


def config(*servers: dict[str, Any], **extra: Any) -> BootstrapConfig:
    return BootstrapConfig.from_json({"servers": list(servers), **extra})


# -- configurations ----------------------------------------------------------------------


def test_a_full_entry_round_trips_without_its_keys() -> None:
    entry = config(PSK, NOSEC, delete=["/0", "/1"], read=["/2"])
    shown = entry.to_json()
    assert shown["servers"][0] == {
        "shortServerId": 1,
        "uri": "coaps://10.0.0.1:5684",
        "securityMode": "psk",
        "identity": "dev-1",
        "hasKey": True,
        "lifetime": 86400,
        "binding": "U",
    }
    assert shown["delete"] == ["/0", "/1"] and shown["read"] == ["/2"]
    assert KEY not in json.dumps(shown)
    assert KEY not in repr(entry) and "\\x00\\x11" not in repr(entry)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "servers: a non-empty list"),
        ({"servers": [{**NOSEC, "uri": "coaps://h"}]}, "nosec needs a coap://"),
        ({"servers": [{**PSK, "uri": "coap://h"}]}, "psk needs a coaps://"),
        ({"servers": [{**PSK, "key": "zz"}]}, "servers[0].key: 1..64 bytes as hex"),
        ({"servers": [{**PSK, "key": KEY + "0"}]}, "servers[0].key"),
        ({"servers": [{**NOSEC, "key": KEY}]}, "nosec takes no identity or key"),
        ({"servers": [{**NOSEC, "shortServerId": 0}]}, "shortServerId: an integer 1..65534"),
        ({"servers": [{**NOSEC, "binding": "X"}]}, "binding"),
        ({"servers": [{**NOSEC, "lifetime": 0}]}, "lifetime"),
        ({"servers": [NOSEC, NOSEC]}, "same shortServerId"),
        ({"servers": [NOSEC], "delete": ["/0/1/2"]}, "is not /, /o or /o/i"),
        ({"servers": [NOSEC], "read": ["/3"]}, "of objects 1, 2"),
        ({"servers": [NOSEC], "extra": 1}, "unknown field 'extra'"),
        ({"servers": [{**NOSEC, "securityMode": "rpk"}]}, "'nosec' or 'psk'"),
    ],
)
def test_bad_entries_name_the_field(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        BootstrapConfig.from_json(entry)
    assert message in str(info.value)
    assert KEY not in str(info.value)


def test_the_default_entry_carries_no_keys() -> None:
    with pytest.raises(ConfigError, match="every device would share"):
        ConfigStore.from_json({"*": {"servers": [PSK]}})
    store = ConfigStore.from_json({"*": {"servers": [NOSEC]}, "urn:imei:1": {"servers": [PSK]}})
    assert store.lookup("urn:imei:1") == store.get("urn:imei:1")
    assert store.lookup("urn:imei:2") == store.get("*")
    assert ConfigStore().lookup("urn:imei:2") is None


def test_load_names_the_file_and_the_entry(tmp_path: FilePath) -> None:
    file = tmp_path / "bs.json"
    file.write_text(json.dumps({"urn:imei:1": {"servers": [{**NOSEC, "lifetime": "x"}]}}))
    with pytest.raises(ConfigError, match=r"bs.json: 'urn:imei:1': servers\[0\].lifetime"):
        ConfigStore.load(file)
    file.write_text("{")
    with pytest.raises(ConfigError, match="cannot read"):
        ConfigStore.load(file)


# -- Bootstrap-interface rules -------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "code"),
    [
        (Read(Path.parse("/3/0")), Code.UNAUTHORIZED),
        (Read(Path.parse("/")), Code.UNAUTHORIZED),
        (Read(Path.parse("/1/0/1")), Code.BAD_REQUEST),
        (Discover(Path.parse("/3/0")), Code.BAD_REQUEST),
        (Discover(Path.parse("/3"), depth=1), Code.BAD_REQUEST),
        (Delete(Path.parse("/1/0/1")), Code.BAD_REQUEST),
        (Write(Path.parse("/1/0"), ObjectInstance(0), partial=True), Code.METHOD_NOT_ALLOWED),
        (Execute(Path.parse("/1/0/8")), Code.METHOD_NOT_ALLOWED),
        (Create(1, (ObjectInstance(0),)), Code.METHOD_NOT_ALLOWED),
    ],
)
def test_what_the_bootstrap_interface_refuses(op: Any, code: Code) -> None:
    with pytest.raises(OperationError) as info:
        check_bootstrap(op)
    assert info.value.code == code


@pytest.mark.parametrize(
    "op",
    [
        Read(Path.parse("/1")),
        Read(Path.parse("/2/3")),
        Discover(Path.parse("/")),
        Discover(Path.parse("/0")),
        Delete(Path.parse("/")),
        Delete(Path.parse("/0/1")),
        Write(Path.parse("/0"), ObjectNode(0)),
        Write(Path.parse("/1/0/1"), SingleResource(1, 60)),
        BootstrapFinish(),
    ],
)
def test_what_the_bootstrap_interface_allows(op: Any) -> None:
    assert check_bootstrap(op) is op


# -- inventory -----------------------------------------------------------------------------

entries = st.builds(
    InventoryEntry,
    st.builds(Path.of, st.integers(0, 65534), st.integers(0, 65534)),
    st.none() | st.integers(1, 65534),
    st.none() | st.from_regex(r"coaps?://[a-z0-9.]{1,20}(:[0-9]{1,5})?", fullmatch=True),
)


@given(st.lists(entries, max_size=20), st.none() | st.sampled_from(["1.0", "1.1", "1.2"]))
def test_inventory_round_trips_through_link_format(
    items: list[InventoryEntry], version: str | None
) -> None:
    inventory = Inventory(tuple(items), version)
    text = format_links(inventory.to_links())
    assert Inventory.from_links(parse_links(text)) == inventory


def test_inventory_reads_the_spec_example() -> None:
    text = (
        '</>;lwm2m=1.1,</0/0>;uri="coap://bootstrap.example.com",'
        '</0/1>;ssid=101;uri="coaps://server_1.example.com",</1/0>;ssid=101,</2/0>,</3/0>,</5>'
    )
    inventory = Inventory.from_links(parse_links(text))
    assert inventory.lwm2m_version == "1.1"
    assert inventory.bootstrap_accounts() == [0]
    assert inventory.instance_of(0, 101) == 1 and inventory.instance_of(1, 101) == 0
    with pytest.raises(OperationError):
        Inventory.from_links(parse_links("</0/0/1>"))


def test_plan_reuses_accounts_and_skips_the_bootstrap_instance() -> None:
    inventory = Inventory.from_links(
        parse_links(
            '</0/0>;uri="coap://bs",</0/3>;ssid=2;uri="coap://old",</1/4>;ssid=2,</1/5>;ssid=9'
        )
    )
    ops = plan(config(NOSEC, {**NOSEC, "shortServerId": 3}), inventory, read_format=None)
    writes = {op.path.ids[0]: op.node for op in ops if isinstance(op, Write)}
    assert isinstance(writes[0], ObjectNode) and isinstance(writes[1], ObjectNode)
    assert sorted(writes[0].instances) == [1, 3]  # ssid 2 keeps /0/3, ssid 3 gets /0/1
    assert sorted(writes[1].instances) == [0, 4]  # ssid 2 keeps /1/4
    assert isinstance(ops[-1], BootstrapFinish)
    after_delete = plan(config(NOSEC, delete=["/0", "/1"]), inventory, read_format=None)
    assert [str(op.path) for op in after_delete if isinstance(op, Delete)] == ["/0", "/1"]


# -- REST API ------------------------------------------------------------------------------


async def test_rest_api_lists_puts_gets_and_deletes_without_keys() -> None:
    store = ConfigStore()
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
        assert (await api.get("/api/bootstrap")).json() == {}
        answer = await api.put("/api/bootstrap/urn:imei:1", json={"servers": [PSK]})
        assert answer.status_code == 201 and answer.json()["servers"][0]["hasKey"] is True
        assert (
            await api.put("/api/bootstrap/urn:imei:1", json={"servers": [PSK]})
        ).status_code == 200
        assert (await api.put("/api/bootstrap/*", json={"servers": [NOSEC]})).status_code == 201
        listing = await api.get("/api/bootstrap")
        assert sorted(listing.json()) == ["*", "urn:imei:1"]
        assert KEY not in listing.text
        got = await api.get("/api/bootstrap/urn:imei:1")
        assert got.status_code == 200 and KEY not in got.text
        assert store.lookup("urn:imei:1") is not None
        assert store.lookup("urn:imei:1").servers[0].key == bytes.fromhex(KEY)  # type: ignore[union-attr]
        bad = await api.put("/api/bootstrap/urn:imei:1", json={"servers": [{**PSK, "key": "x"}]})
        assert bad.status_code == 400 and "servers[0].key" in bad.json()["message"]
        assert (await api.put("/api/bootstrap/*", json={"servers": [PSK]})).status_code == 400
        assert (await api.put("/api/bootstrap/x", content=b"{")).status_code == 400
        assert (await api.put("/api/bootstrap/x", content=b" " * 300_000)).status_code == 413
        assert (await api.delete("/api/bootstrap/urn:imei:1")).status_code == 204
        assert (await api.delete("/api/bootstrap/urn:imei:1")).status_code == 404
        assert (await api.get("/api/bootstrap/urn:imei:1")).status_code == 404


# -- CLI -----------------------------------------------------------------------------------


def test_cli_reports_a_port_in_use_and_bad_files(
    tmp_path: FilePath, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "bs.json"
    file.write_text(json.dumps({"urn:imei:1": {"servers": [NOSEC]}}))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:
        free.bind(("127.0.0.1", 0))
        coap_port = str(free.getsockname()[1])
    argv = ["bootstrap", "--config", str(file), "--host", "127.0.0.1", "--coap-port", coap_port]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = str(taken.getsockname()[1])
        assert main([*argv, "--http-port", "0", "--coaps-port", port]) == 1
    assert "cannot listen" in capsys.readouterr().err
    file.write_text(json.dumps({"urn:imei:1": {"servers": [{**NOSEC, "uri": 5}]}}))
    assert main([*argv, "--http-port", "0"]) == 1
    assert "servers[0].uri" in capsys.readouterr().err


# -- optional Security resources -----------------------------------------------------------


def test_cipher_suites_are_written_only_when_configured_each_in_its_own_write() -> None:
    inventory = Inventory()
    bare = plan(config(PSK, NOSEC), inventory, read_format=None)
    security = next(op for op in bare if isinstance(op, Write) and op.path == Path.of(0))
    assert isinstance(security.node, ObjectNode)
    assert all(16 not in instance.resources for instance in security.node.instances.values())
    suites = config({**PSK, "cipherSuites": [0xC0A8]})
    writes = [op for op in plan(suites, inventory, read_format=None) if isinstance(op, Write)]
    assert [str(op.path) for op in writes] == ["/0", "/1", "/0/0/16"]
    assert suites.to_json()["servers"][0]["cipherSuites"] == [0xC0A8]


@pytest.mark.parametrize(
    ("account", "problem"),
    [
        ({**PSK, "cipherSuites": []}, "servers[0].cipherSuites: a list of 1..32"),
        ({**PSK, "cipherSuites": [70000]}, "servers[0].cipherSuites: a list of 1..32"),
        ({**PSK, "cipherSuites": ["0xC0A8"]}, "servers[0].cipherSuites: a list of 1..32"),
        ({**NOSEC, "cipherSuites": [0xC0A8]}, "servers[0].cipherSuites: only for securityMode"),
    ],
)
def test_bad_cipher_suites_are_refused(account: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        config(account)
