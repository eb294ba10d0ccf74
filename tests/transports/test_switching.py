"""Transport switching end to end over real sockets: a client holding UDP and NIDD (its
modem on the emulated network's AT port), the server on UDP and on the network's T8 API
(the rig of tests/nidd), moved N → U → N through the REST API with reads on each; the
Registration Update Trigger with 0='U'; Preferred Transport at start-up; a client announcing
``UN`` serves reads over both; a transport the client does not hold, or a Preferred Transport
its binding does not allow, is refused with its reason."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from lwm2m.client.device import LwM2MClient
from lwm2m.client.engine import ClientConfig
from lwm2m.client.tree import ObjectTree
from lwm2m.operations import ErrorResponse
from lwm2m.server.switching import transport_of
from lwm2m.transport.nidd.peer import NiddPeer
from tests.nidd import test_server_nidd
from tests.nidd.test_client_nidd import nidd_device
from tests.nidd.test_server_nidd import Rig, _configured, _value, eventually

rig = test_server_nidd.rig  # the fixture: the emulated network and the server over T8


@contextlib.asynccontextmanager
async def _device(rig: Rig, *, binding: str, preferred: str | None) -> AsyncIterator[LwM2MClient]:
    """A started client holding UDP and NIDD (the server's UDP port for U), de-registered and
    its modem closed on the way out."""

    def configure(tree: ObjectTree) -> None:
        if preferred is not None:
            tree.object(1).write(0, 22, preferred, replace=False)

    async with nidd_device(
        rig,
        binding=binding,
        bindings="UN",
        configure=configure,
        udp=True,
        servers={1: rig.server.coap_address},
        local_address=("127.0.0.1", 0),
        config=ClientConfig(),
    ) as (client, _):
        yield client


async def _on(rig: Rig, endpoint: str, transport: str) -> None:
    await eventually(
        lambda: (
            (r := rig.server.registrations.get(endpoint)) is not None
            and transport_of(r.address) == transport
        )
    )


@pytest.mark.timeout(120)
async def test_moved_n_u_n_through_the_rest_api_with_reads_on_each(rig: Rig) -> None:
    await _configured(rig)
    async with _device(rig, binding="UN", preferred="N") as client:
        endpoint = client.endpoint_name
        assert client.transports == "UN"
        await _on(rig, endpoint, "N")  # Preferred Transport at start-up
        registration = rig.server.registrations.get(endpoint)
        assert registration is not None and registration.binding == "UN"
        assert isinstance(registration.address, NiddPeer)
        assert _value(await rig.server.read(endpoint, "/3/0/0", timeout=20)) == "lwm2m project"
        async with httpx.AsyncClient(base_url=rig.web.url, timeout=60) as http:
            url = f"/api/clients/{endpoint}/transport"
            answer = await http.post(url, json={"transport": "U", "timeout": 30})
            assert answer.status_code == 200, answer.text
            assert answer.json()["transport"] == "U"
            udp = rig.server.registrations.get(endpoint)
            assert udp is not None and udp.address == client.local_address
            assert client.engine.registrations[1].transport == "U"
            assert _value(await rig.server.read(endpoint, "/3/0/0", timeout=20)) == "lwm2m project"

            answer = await http.post(url, json={"transport": "N", "timeout": 30})
            assert answer.status_code == 200, answer.text
            assert answer.json()["transport"] == "N"
            assert _value(await rig.server.read(endpoint, "/3/0/0", timeout=20)) == "lwm2m project"

            refused = await http.post(url, json={"transport": "S", "timeout": 30})
            assert refused.status_code == 409
            assert "SMS" in refused.json()["message"]  # the device's reason
            bad = await http.post(url, json={"transport": "X"})
            assert bad.status_code == 400
        registration = rig.server.registrations.get(endpoint)
        assert registration is not None and transport_of(registration.address) == "N"


@pytest.mark.timeout(120)
async def test_registration_update_trigger_with_transport_u(rig: Rig) -> None:
    await _configured(rig)
    async with _device(rig, binding="UN", preferred=None) as client:
        endpoint = client.endpoint_name
        await _on(rig, endpoint, "N")  # the Server URI (nidd:) comes first without a preference
        executed = await rig.server.execute(endpoint, "/1/0/8", "0='U'", timeout=20)
        assert not isinstance(executed, ErrorResponse)
        await _on(rig, endpoint, "U")
        assert _value(await rig.server.read(endpoint, "/3/0/0", timeout=20)) == "lwm2m project"
        refused = await rig.server.execute(endpoint, "/1/0/8", "0='T'", timeout=20)
        assert isinstance(refused, ErrorResponse) and "TCP" in refused.message


@pytest.mark.timeout(120)
async def test_a_binding_without_n_registers_over_udp_and_announces_only_u(rig: Rig) -> None:
    await _configured(rig)
    async with _device(rig, binding="U", preferred="N") as client:
        endpoint = client.endpoint_name
        await _on(rig, endpoint, "U")  # N preferred, but the binding does not allow it
        registration = rig.server.registrations.get(endpoint)
        assert registration is not None and registration.binding == "U"
        refused = await rig.server.write(endpoint, "/1/0/22", {"/1/0/22": "S"}, timeout=20)
        assert isinstance(refused, ErrorResponse)
