"""One node of a cluster: several ``lwm2m server`` processes (on one machine or several) that
share a Redis store and serve one fleet (docs/cluster.md).

- **Ownership**: a device is served by the node that last received its Register or Update;
  that node writes ``PREFIX:{ep}:owner`` with the registration.  The others learn it through
  the change stream (:mod:`lwm2m.storage.redis_follow`) and, if they served the device before,
  release it (:meth:`~lwm2m.server.core.ServerCore.release`).  An Update or De-register for a
  registration another node served is adopted where it arrives.
- **Heartbeats**: each node renews ``PREFIX:node:{NODE}`` (its run ID, a TTL of
  :attr:`ClusterConfig.node_ttl`) every :attr:`ClusterConfig.heartbeat` seconds.
- **Takeover**: when a node's heartbeat is gone, the live nodes claim its devices, spread by
  rendezvous hashing (a device's preferred node tries first; the others after a grace period,
  in case it is dead too).  A claim is ``SET PREFIX:{ep}:claim NX PX`` then a check that the
  owner key still names the dead node, both on the device's own slot (no Lua, no
  transaction: cluster-safe); the winner writes itself as owner and loads the registration,
  observations (their tokens) and queued requests from Redis into its core.  The device does
  not register again.
- **Requests** for a device served elsewhere go to its node (:mod:`lwm2m.cluster.routing`);
  **events** of every node reach every node's listeners (:mod:`lwm2m.cluster.relay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass

from redis.exceptions import RedisError

from lwm2m.cluster.relay import EventRelay
from lwm2m.cluster.routing import Routing
from lwm2m.coap.events import Peer
from lwm2m.operations import Response, ServerRequest
from lwm2m.server import (
    Deregistered,
    Expired,
    LwM2MServer,
    Registered,
    Registration,
    ServerEvent,
    Updated,
)
from lwm2m.server.events import Target
from lwm2m.storage import RedisStore
from lwm2m.storage import redis_records as records
from lwm2m.storage.redis_follow import ChangeFollower, stop_reader

logger = logging.getLogger(__name__)

CLAIM = b"claim"
REQUEST_ID_SPACE = 1 << 20
"""Request IDs per node range: node ranges start at a random multiple of this, so queued
requests (stored under their ID) of two nodes never collide."""


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    node: str
    """This node's name, unique in the cluster (``lwm2m server --node-id``)."""
    heartbeat: float = 1.0
    """Seconds between heartbeats (and checks of the other nodes')."""
    node_ttl: float = 5.0
    """A node whose heartbeat is this old is dead: its devices are taken over."""
    routed_timeout: float = 120.0
    """How long a routed request without a timeout of its own may wait for its answer."""

    def __post_init__(self) -> None:
        if not self.node or any(c in self.node for c in "{}") or len(self.node) > 64:
            raise ValueError("a node ID is 1 to 64 characters, without { or }")
        if self.heartbeat <= 0 or self.node_ttl < 2 * self.heartbeat:
            raise ValueError("node_ttl must be at least two heartbeats")


class NodeIdInUseError(Exception):
    """Another live node has this node's ID."""


class ClusterNode:
    """Joins ``server`` (not started yet) to the cluster on ``store``'s Redis: call
    :meth:`start` before ``server.start()`` (it decides which stored devices this node
    serves) and :meth:`close` after ``server.stop()``."""

    def __init__(self, store: RedisStore, server: LwM2MServer, config: ClusterConfig) -> None:
        self.config = config
        self.node = config.node
        self._store = store
        self._server = server
        self._run = secrets.token_hex(8)
        self._alive: set[str] = {config.node}
        self._dead_since: dict[str, float] = {}
        self._serving: set[str] = set()
        self._addresses: dict[Peer, str] = {}  # of every registration in the store's view
        self._moves: dict[str, asyncio.Task[None]] = {}  # devices whose datagrams came here
        self._claimed: list[bytes] = []  # claims won, to delete once the owner is written
        self.routing = Routing(
            store,
            server,
            config.node,
            routed_timeout=config.routed_timeout,
            alive=lambda node: node in self._alive,
        )
        self.relay = EventRelay(store, server, config.node)
        self._follower: ChangeFollower | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.taken_over = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Heartbeat, then claim the stored devices no live node serves; NodeIdInUseError if
        a live node has this ID."""
        client, keys = self._store.client, self._store.keys
        ttl = int(self.config.node_ttl * 1000)
        if not await client.set(keys.node(self.node), self._run, nx=True, px=ttl):
            raise NodeIdInUseError(f"node ID {self.node!r} is in use by a live node")
        await self._refresh_alive()
        self._store.publish_changes(self.node)
        self._follower = ChangeFollower(self._store, self.node, self._on_changes)
        server = self._server
        server.core.number_requests_from(
            (secrets.randbits(31) + 1) * REQUEST_ID_SPACE  # below 2**51: exact in JSON too
        )
        for registration in self._store.registrations.all():
            owner = self._store.owners.get(registration.endpoint)
            if owner == self.node or await self._claim(registration.endpoint, owner):
                self._serving.add(registration.endpoint)
        for registration in self._store.registrations.all():
            self._addresses[registration.address] = registration.endpoint
        server.route_through(self)
        server.core.adopt_by_registration_id(self._adopt_by_id)
        server.core.hold_responses(self._arrived)
        server.subscribe(self._on_event)
        await self.routing.start()
        await self.relay.start()
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="lwm2m-cluster")

    async def close(self) -> None:
        """Leave: the heartbeat goes at once, so the others take the devices over now."""
        self._stopping = True
        for task in (self._task, *self._moves.values()):
            if task is not None:
                await stop_reader(task)
        await self.routing.close()
        await self.relay.close()
        if self._follower is not None:
            await self._follower.close()
        with contextlib.suppress(RedisError, OSError):
            if await self._store.client.get(self._store.keys.node(self.node)) == self._run.encode():
                await self._store.client.delete(self._store.keys.node(self.node))

    # -- the server's router (lwm2m.server.management.Router) --------------------------------

    def forward(
        self, ep: str, op: ServerRequest, fmt: int | None, timeout: float | None
    ) -> Awaitable[Response]:
        return self.routing.forward(ep, op, fmt, timeout)

    def forward_cancel(
        self, ep: str, target: Target, active: bool, timeout: float | None
    ) -> Awaitable[Response]:
        return self.routing.forward_cancel(ep, target, active, timeout)

    def serves(self, registration: Registration) -> bool:
        return registration.endpoint in self._serving

    @property
    def alive(self) -> frozenset[str]:
        """The nodes whose heartbeat was there at the last check (this one included)."""
        return frozenset(self._alive)

    # -- ownership ---------------------------------------------------------------------------

    def _on_event(self, event: ServerEvent) -> None:
        owners = self._store.owners
        if isinstance(event, Registered | Updated):
            endpoint = event.registration.endpoint
            owners.set(endpoint, self.node)
            self._serving.add(endpoint)
        elif isinstance(event, Deregistered | Expired):
            endpoint = event.registration.endpoint
            self._serving.discard(endpoint)
            if owners.get(endpoint) == self.node:
                owners.delete(endpoint)

    def _on_changes(self, node: str, changed: list[tuple[bytes, str]]) -> None:
        """Another node's writes are in the view: release what it serves now."""
        for kind, endpoint in changed:
            if kind == records.REGISTRATION:
                registration = self._store.registrations.get(endpoint)
                if registration is not None:
                    self._addresses[registration.address] = endpoint
            if kind != records.OWNER or endpoint not in self._serving:
                continue
            owner = self._store.owners.get(endpoint)
            if owner is None or owner == self.node:
                continue
            self._serving.discard(endpoint)
            ours = self._server.core.registration(endpoint)
            theirs = self._store.registrations.get(endpoint)
            same = (
                ours is not None
                and theirs is not None
                and ours.registration_id == theirs.registration_id
            )
            if self._server.release(endpoint, owner, keep_observations=same):
                logger.info("%s is served by node %s now", endpoint, owner)

    def _adopt_by_id(self, registration_id: str, now: float) -> bool:
        """An Update or De-register for a registration another node served reached us."""
        store = self._store
        registration = store.registrations.by_registration_id(registration_id)
        if registration is None:
            return False
        endpoint = registration.endpoint
        adopted = self._server.core.adopt(registration, store.observations.of(endpoint), (), now)
        if adopted:
            self._serving.add(endpoint)
            logger.info("%s moved here from node %s", endpoint, store.owners.get(endpoint))
        return adopted

    def _arrived(self, peer: Peer) -> bool:
        """A response or notification from ``peer``, which no session here has: True (drop it
        unanswered) when it is the address of a device another node served.  Its datagrams
        come here now (that node died, a balancer moved the device, a new worker changed the
        kernel's SO_REUSEPORT hashing), so this node takes it over; the device's
        retransmission is answered here."""
        endpoint = self._addresses.get(peer)
        if endpoint is None:
            return False
        registration = self._store.registrations.get(endpoint)
        if registration is None or registration.address != peer:
            return False  # an old address of a device: this peer is no device of ours
        if endpoint not in self._moves and self._task is not None:
            move = asyncio.get_running_loop().create_task(self._move_here(endpoint))
            self._moves[endpoint] = move
            move.add_done_callback(lambda _: self._moves.pop(endpoint, None))
        return True

    async def _move_here(self, endpoint: str) -> None:
        owner = self._store.owners.get(endpoint)
        if owner == self.node or endpoint in self._serving:
            return
        try:
            await self._claim(endpoint, owner, moving=True)
            await self._release_claims()
        except (RedisError, OSError) as exc:
            logger.warning("cannot take %s over: %s", endpoint, exc)

    # -- heartbeats and takeover -------------------------------------------------------------

    async def _beat(self) -> None:
        client, key = self._store.client, self._store.keys.node(self.node)
        ttl = int(self.config.node_ttl * 1000)
        while not self._stopping:
            await asyncio.sleep(self.config.heartbeat)
            try:
                await client.set(key, self._run, px=ttl)
                await self._refresh_alive()
                await self._take_over()
            except (RedisError, OSError) as exc:
                logger.warning("cluster heartbeat failed: %s", exc)

    async def _refresh_alive(self) -> None:
        keys = self._store.keys
        alive = {self.node}
        async for key in self._store.client.scan_iter(match=keys.nodes(), count=1000):
            node = keys.node_of(key)
            if node is not None:
                alive.add(node)
        for node in self._alive - alive:
            logger.warning("node %s is gone (no heartbeat for %.0f s)", node, self.config.node_ttl)
            self.routing.node_gone(node)
        self._alive = alive

    async def _take_over(self) -> None:
        """Claim the devices of nodes that are gone: this node's share at once, the rest
        once their preferred node had ``node_ttl`` to do it."""
        now = asyncio.get_running_loop().time()
        owners = self._store.owners
        dead = owners.nodes() - self._alive
        for node in list(self._dead_since):
            if node not in dead:
                del self._dead_since[node]
        alive = sorted(self._alive)
        for node in dead:
            since = self._dead_since.setdefault(node, now)
            late = now - since > self.config.node_ttl
            for endpoint in owners.of(node):
                if late or _preferred(endpoint, alive) == self.node:
                    await self._claim(endpoint, node)
        await self._release_claims()

    async def _claim(self, endpoint: str, owner: str | None, *, moving: bool = False) -> bool:
        """Take ``endpoint`` from dead (or absent) ``owner``, or from a live one when the
        device's datagrams come here now (``moving``); True if this node serves it now."""
        if owner is not None and owner in self._alive and not moving:
            return False
        client, keys = self._store.client, self._store.keys
        ttl = int(self.config.node_ttl * 2000)
        claim = keys.of(endpoint, CLAIM)
        if not await client.set(claim, self.node, nx=True, px=ttl):
            return False  # another node is claiming it
        current = await client.get(keys.of(endpoint, records.OWNER))
        current_owner = None if current is None else current.decode("utf-8", "surrogatepass")
        if current_owner != owner:
            return current_owner == self.node  # taken meanwhile (or ours)
        self._store.owners.set(endpoint, self.node)
        if not self._server.running:
            return True  # at start: restored with the rest
        pipe = client.pipeline(transaction=False)
        pipe.get(keys.of(endpoint, records.REGISTRATION))
        pipe.hgetall(keys.of(endpoint, records.OBSERVATIONS))
        pipe.hgetall(keys.of(endpoint, records.QUEUE))
        stored, observed, queued = await pipe.execute()
        if stored is None:
            self._store.owners.delete(endpoint)
            return False
        registration = records.decode_registration(endpoint, stored)
        observations = [
            records.decode_observation(endpoint, token, data) for token, data in observed.items()
        ]
        waiting = [records.decode_queued(endpoint, rid, data) for rid, data in queued.items()]
        if owner in self._alive:
            waiting = []  # a live owner fails them ("moved to node ..."), as for an Update
        for record in waiting:
            self._store.queue.put(record)  # ours now: sent, expired or dropped from here
        self._serving.add(endpoint)
        if not self._server.adopt(registration, observations, waiting):
            self._serving.discard(endpoint)
            return False
        self.taken_over += 1
        self._claimed.append(claim)
        logger.info("took %s over from node %s", endpoint, owner)
        return True

    async def _release_claims(self) -> None:
        """Once Redis has the new owners, the claims have done their work: a node that the
        device's datagrams reach next may move it at once, not after the claim's expiry."""
        claims, self._claimed = self._claimed, []
        if not claims or not await self._store.flush(self.config.node_ttl):
            return
        client, ours = self._store.client, self.node.encode("utf-8", "surrogatepass")
        pipe = client.pipeline(transaction=False)
        for claim in claims:
            pipe.get(claim)
        held = [claim for claim, by in zip(claims, await pipe.execute(), strict=True) if by == ours]
        pipe = client.pipeline(transaction=False)
        for claim in held:
            pipe.delete(claim)
        await pipe.execute()


def _preferred(endpoint: str, nodes: list[str]) -> str:
    """The node that claims ``endpoint`` first (rendezvous hashing: spread evenly, and only
    the dead node's devices move)."""
    return max(
        nodes,
        key=lambda node: hashlib.blake2b(f"{node}\0{endpoint}".encode(), digest_size=8).digest(),
    )
