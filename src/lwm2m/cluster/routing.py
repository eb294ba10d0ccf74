"""Requests for a device served by another node: sent to that node's inbox stream
(``PREFIX:inbox:{NODE}``), performed there through its core, answered into the sender's inbox.

One task per node reads its inbox (``XREAD BLOCK``): requests start a task each, answers
resolve the caller's future.  A caller waits for its own ``timeout`` (or
:attr:`~lwm2m.cluster.node.ClusterConfig.routed_timeout`) plus a margin; when the serving
node's heartbeat goes, its callers fail at once with :class:`ClusterError`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

import cbor2
from redis.exceptions import RedisError

from lwm2m.cluster.messages import CANCEL, SEND, ClusterError, Codec, RoutedRequest
from lwm2m.model import Path
from lwm2m.operations import Observe, ObserveComposite, Response, ServerRequest
from lwm2m.server import LwM2MServer, UnknownEndpointError
from lwm2m.server.events import Target
from lwm2m.storage import RedisStore
from lwm2m.storage.redis_follow import stop_reader

logger = logging.getLogger(__name__)

INBOX_KEPT = 10_000
"""Entries an inbox stream keeps, about (a node reads its own as they come)."""
MARGIN = 5.0
"""Seconds a caller waits beyond the request's own timeout: the hops through Redis."""
_BLOCK_MS = 1000
_RETRY = 0.5


class Routing:
    """Sends this node's requests for other nodes' devices, and serves theirs."""

    def __init__(
        self,
        store: RedisStore,
        server: LwM2MServer,
        node: str,
        *,
        routed_timeout: float,
        alive: Callable[[str], bool],
    ) -> None:
        self._store = store
        self._server = server
        self._node = node
        self._routed_timeout = routed_timeout
        self._alive = alive
        self._codec = Codec(server.core.codecs, server.models)
        self._waiting: dict[str, tuple[str, ServerRequest, asyncio.Future[Response]]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.served = 0
        self.forwarded = 0

    async def start(self) -> None:
        client = self._store.client
        inbox = self._store.keys.inbox(self._node)
        last = await client.xrevrange(inbox, count=1)
        start = last[0][0] if last else b"0-0"
        self._task = asyncio.get_running_loop().create_task(
            self._read(inbox, start), name="lwm2m-cluster-inbox"
        )

    async def close(self) -> None:
        self._stopping = True
        for task in (self._task, *self._serving):
            if task is not None:
                await stop_reader(task)
        for _, _, future in self._waiting.values():
            if not future.done():
                future.set_exception(ClusterError("this node is stopping"))
        self._waiting.clear()

    # -- the caller's side -------------------------------------------------------------------

    async def forward(
        self, ep: str, op: ServerRequest, fmt: int | None, timeout: float | None
    ) -> Response:
        return await self._forward(SEND, ep, op, fmt, timeout)

    async def forward_cancel(
        self, ep: str, target: Target, active: bool, timeout: float | None
    ) -> Response:
        op: ServerRequest = (
            Observe(target, cancel=True)
            if isinstance(target, Path)
            else ObserveComposite(target, cancel=True)
        )
        return await self._forward(CANCEL, ep, op, active, timeout)

    async def _forward(
        self, kind: str, ep: str, op: ServerRequest, option: Any, timeout: float | None
    ) -> Response:
        owner = self._store.owners.get(ep)
        if owner is None or owner == self._node or self._store.registrations.get(ep) is None:
            raise UnknownEndpointError(f"no registration for endpoint {ep!r:.80}")
        if not self._alive(owner) and not await self._heartbeat(owner):
            raise ClusterError(
                f"node {owner}, which served {ep}, is gone; a live node takes its devices over"
            )
        request_id = secrets.token_hex(8)
        message = RoutedRequest(request_id, self._node, kind, ep, op, option, timeout)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (owner, op, future)
        wait = (timeout if timeout is not None else self._routed_timeout) + MARGIN
        try:
            await self._store.client.xadd(
                self._store.keys.inbox(owner),
                {b"request": self._codec.request(message)},
                maxlen=INBOX_KEPT,
            )
            self.forwarded += 1
            async with asyncio.timeout(wait):
                return await future
        except TimeoutError:
            raise ClusterError(f"node {owner} did not answer for {ep} in {wait:.0f} s") from None
        except (RedisError, OSError) as exc:
            raise ClusterError(f"cannot reach node {owner} through Redis: {exc}") from None
        finally:
            self._waiting.pop(request_id, None)

    async def _heartbeat(self, node: str) -> bool:
        """Whether ``node``'s heartbeat is there now: the last check (every heartbeat) may
        predate a node that has just started."""
        try:
            return bool(await self._store.client.exists(self._store.keys.node(node)))
        except (RedisError, OSError) as exc:
            raise ClusterError(f"cannot reach node {node} through Redis: {exc}") from None

    def node_gone(self, node: str) -> None:
        """``node``'s heartbeat expired: what waits for its answers fails now."""
        for owner, _, future in list(self._waiting.values()):
            if owner == node and not future.done():
                future.set_exception(ClusterError(f"node {node} died before it answered"))

    # -- the inbox ---------------------------------------------------------------------------

    async def _read(self, inbox: bytes, last: bytes) -> None:
        client = self._store.client
        while not self._stopping:
            try:
                reply = await client.xread({inbox: last}, count=100, block=_BLOCK_MS)
            except (RedisError, OSError) as exc:
                logger.debug("cannot read this node's inbox: %s", exc)
                await asyncio.sleep(_RETRY)
                continue
            for entry_id, fields in reply[0][1] if reply else ():
                last = entry_id
                if b"request" in fields:
                    self._serve(fields[b"request"])
                elif b"answer" in fields:
                    self._answered(fields[b"answer"])

    def _answered(self, data: bytes) -> None:
        try:
            answer = cbor2.loads(data)
            waiting = self._waiting.get(Codec.answer_id(answer))
            if waiting is None:
                return  # its caller gave up
            _, op, future = waiting
            outcome = self._codec.outcome(op, answer)
        except Exception as exc:
            logger.warning("unreadable answer in this node's inbox: %s", exc)
            return
        if future.done():
            return
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _serve(self, data: bytes) -> None:
        try:
            request = self._codec.parse_request(data)
        except Exception as exc:
            logger.warning("unreadable request in this node's inbox: %s", exc)
            return
        task = asyncio.get_running_loop().create_task(self._perform(request))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _perform(self, request: RoutedRequest) -> None:
        server, op = self._server, request.op
        outcome: Response | Exception
        try:
            if request.kind == SEND:
                outcome = await server.send_here(
                    request.endpoint, op, request.option, request.timeout
                )
            else:
                assert isinstance(op, Observe | ObserveComposite)
                target = op.path if isinstance(op, Observe) else op.paths
                outcome = await server.cancel_here(
                    request.endpoint, target, bool(request.option), request.timeout
                )
        except Exception as exc:  # the caller's to see, as if it had asked here
            outcome = exc
        self.served += 1
        try:
            answer = self._codec.answer(request.request_id, op, outcome)
        except Exception as exc:  # an answer our own codecs cannot carry
            answer = self._codec.answer(request.request_id, op, exc)
        try:
            await self._store.client.xadd(
                self._store.keys.inbox(request.sender), {b"answer": answer}, maxlen=INBOX_KEPT
            )
        except (RedisError, OSError) as exc:
            logger.warning("cannot answer node %s: %s", request.sender, exc)
