"""A cluster node refuses OSCORE contexts through the REST API (409), as ``lwm2m server``
refuses ``--oscore`` with ``--node-id``: nodes could reuse each other's nonces after a
takeover.  PSKs are accepted (DTLS sessions are per node and start over)."""

from __future__ import annotations

import httpx

from lwm2m.cluster import ClusterConfig, ClusterNode
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.storage import RedisStore
from lwm2m.web.app import create_app

OSCORE = {"mode": "oscore", "masterSecret": "00" * 16, "senderId": "01", "recipientId": "02"}
PSK = {"mode": "psk", "identity": "dev-1", "key": "00112233445566778899aabbccddeeff"}


async def test_a_cluster_node_refuses_oscore_contexts_and_takes_psks(
    redis_store_url: str,
) -> None:
    store = await RedisStore.open(redis_store_url)
    server = LwM2MServer(
        ServerConfig(host="127.0.0.1", coap_port=0, coaps_port=None),
        store=store,
        oscore=store.oscore,
    )
    node = ClusterNode(store, server, ClusterConfig("oscore-test"))
    await node.start()
    await server.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(server)), base_url="http://localhost"
        ) as http:
            refused = await http.put("/api/security/urn:dev:1", json=OSCORE)
            assert refused.status_code == 409
            assert "cluster" in refused.json()["message"], refused.json()
            assert store.oscore.get("urn:dev:1") is None
            assert (await http.put("/api/security/urn:dev:1", json=PSK)).status_code == 201
    finally:
        await server.stop()
        await node.close()
        await store.aclose()
