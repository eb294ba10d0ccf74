"""The Information Reporting Interface (Core §6.4): observations, notifications and Send.

Observations are sampled when their attributes (assigned with Write-Attributes, inherited per
Core §7.3.2, defaulting to the server's /1/x/2 and /1/x/3) say so and when device code changes
what they watch.  Notifications that come due while the client sleeps in queue mode are kept
if the server's /1/x/6 Notification Storing says so, and sent on waking.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from functools import partial

from lwm2m.client.context import ClientError, EngineContext
from lwm2m.client.objects import NotFoundError, ObjectError, UnauthorizedError
from lwm2m.client.observe import Observation, Timing, must_evaluate, should_notify, wake_at
from lwm2m.client.registering import Registrar
from lwm2m.client.standard import server as srv
from lwm2m.client.tree import SERVER, ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.coap.events import ObservationKey
from lwm2m.coap.timers import Timer
from lwm2m.codec import ContentFormat
from lwm2m.model import Path, TimestampedValues, Value, node_to_values
from lwm2m.operations import (
    CoapParts,
    NodeResponse,
    NotificationAttributes,
    Observe,
    ObserveComposite,
    OperationError,
    Send,
    ValuesResponse,
    effective_attributes,
    encode_response,
)

log = logging.getLogger(__name__)

_Stored = tuple[ObservationKey, CoapParts, bool]


def read_values(
    tree: ObjectTree, paths: Iterable[Path], ssid: int, *, skip_absent: bool
) -> dict[Path, Value]:
    """The values at ``paths`` as ``ssid`` may read them (``/``: every object it may read)."""
    values: dict[Path, Value] = {}
    for path in paths:
        if path.is_root:
            for obj in tree:
                top = Path.of(obj.object_id)
                with contextlib.suppress(UnauthorizedError):
                    values.update(node_to_values(top, tree.read(top, server_id=ssid)))
            continue
        try:
            values.update(node_to_values(path, tree.read(path, server_id=ssid)))
        except NotFoundError:
            if not skip_absent:
                raise
    return values


class Reporter:
    """The observations of every server, their attributes and the notifications kept asleep."""

    def __init__(self, ctx: EngineContext, registrar: Registrar) -> None:
        self._ctx = ctx
        self._registrar = registrar
        self._attributes: dict[int, dict[Path, NotificationAttributes]] = {}
        self._observations: dict[ObservationKey, Observation] = {}
        self._timers: dict[ObservationKey, Timer] = {}
        self._stored: deque[_Stored] = deque(maxlen=ctx.config.max_stored_notifications)

    # -- Send ----------------------------------------------------------------------------------

    def send(self, paths: Iterable[Path], now: float, *, server_id: int | None) -> list[int]:
        """See :meth:`~lwm2m.client.engine.ClientEngine.send`."""
        registrar = self._registrar
        paths = tuple(paths)
        online = [reg for reg in registrar.select(server_id) if reg.online]
        if not online:
            raise ClientError("not registered" + ("" if server_id is None else f" to {server_id}"))
        targets = [reg for reg in online if not registrar.server_flag(reg, srv.MUTE_SEND)]
        if not targets:
            raise ClientError("Send is muted (/1/x/23)")
        send_ids = []
        for reg in targets:
            try:
                values = read_values(self._ctx.tree, paths, reg.short_server_id, skip_absent=False)
            except ObjectError as exc:
                raise ClientError(str(exc)) from None
            if not values:
                raise ClientError("nothing to send")
            op = Send((TimestampedValues(now, values),))
            send_ids.append(registrar.request(reg, op, now, track=False))
        return send_ids

    # -- attributes ----------------------------------------------------------------------------

    def assigned(self, ssid: int) -> Mapping[Path, NotificationAttributes]:
        """The attributes ``ssid`` wrote, by path."""
        return self._attributes.get(ssid, {})

    def write_attributes(
        self, ssid: int, path: Path, change: NotificationAttributes, now: float
    ) -> None:
        target = path.parent if path.is_resource_instance else path
        self._ctx.tree.discover(target, server_id=ssid, depth=0)  # 4.04 for what is absent
        assigned = self._attributes.setdefault(ssid, {})
        attributes = assigned.get(path, NotificationAttributes()).updated(change)
        if attributes.is_empty:
            assigned.pop(path, None)
        else:
            assigned[path] = attributes
        for obs in list(self._observations.values()):
            if obs.short_server_id == ssid:
                self._review(obs, now)

    def _attributes_of(self, obs: Observation) -> dict[Path, NotificationAttributes]:
        ssid = obs.short_server_id
        reg = self._registrar.registrations[ssid]
        servers = self._ctx.tree.object(SERVER)
        present = servers.list_resources(reg.server_instance)
        defaults = {
            name: servers.read(reg.server_instance, rid)
            for name, rid in (("pmin", srv.DEFAULT_PMIN), ("pmax", srv.DEFAULT_PMAX))
            if rid in present
        }
        base = NotificationAttributes(**defaults)  # type: ignore[arg-type]
        assigned = self._attributes.get(ssid, {})
        return {path: effective_attributes(path, assigned, base) for path in obs.paths}

    # -- observations --------------------------------------------------------------------------

    def observe(
        self,
        key: ObservationKey,
        op: Observe | ObserveComposite,
        response: NodeResponse | ValuesResponse,
        *,
        ssid: int,
        parts: CoapParts,
        now: float,
    ) -> None:
        """The first answer to an Observe went out with ``parts``: watch from here on."""
        if isinstance(response, NodeResponse):
            assert isinstance(op, Observe)
            values = node_to_values(op.path, response.node)
        else:
            values = dict(response.values)
        content_format = parts.options.content_format
        obs = Observation(
            key,
            ssid,
            op,
            ContentFormat.TEXT if content_format is None else content_format,
            values,
            last_sent=now,
            last_eval=now,
            last_confirmable=now,
        )
        self.forget(key)
        self._observations[key] = obs
        self._review(obs, now)

    def on_changes(self, changed: list[Path], now: float) -> None:
        for obs in list(self._observations.values()):
            if obs.key in self._observations and any(obs.watches(p) for p in changed):
                obs.dirty = True
                self._review(obs, now)

    def forget(self, key: ObservationKey) -> None:
        self._observations.pop(key, None)
        self._ctx.timers.cancel(self._timers.pop(key, None))

    def forget_server(self, ssid: int) -> None:
        """The server's observations end with its registration."""
        for key, obs in list(self._observations.items()):
            if obs.short_server_id == ssid:
                self.forget(key)

    def _review(self, obs: Observation, now: float) -> None:
        """Sample and notify if the attributes say so, then arm the observation's timer."""
        attributes = self._attributes_of(obs)
        timing = Timing.of(list(attributes.values()))
        if must_evaluate(obs, timing, now):
            try:
                response = self._observed(obs)
            except ObjectError as exc:
                self._end(obs, exc.code, now)
                return
            except Exception:  # a bug in device code ends this observation, not the client
                log.exception("client %s: observed read failed", self._ctx.endpoint_name)
                self._end(obs, Code.INTERNAL_SERVER_ERROR, now)
                return
            values = (
                dict(response.values)
                if isinstance(response, ValuesResponse)
                else node_to_values(obs.paths[0], response.node)
            )
            if should_notify(obs, timing, attributes, values, now):
                self._notify(obs, response, values, timing, now)
        timers = self._ctx.timers
        timers.cancel(self._timers.pop(obs.key, None))
        when = wake_at(obs, timing)
        if when is not None and obs.key in self._observations:
            self._timers[obs.key] = timers.schedule(when, partial(self._on_timer, obs.key))

    def _on_timer(self, key: ObservationKey, now: float) -> None:
        self._timers.pop(key, None)
        obs = self._observations.get(key)
        if obs is not None:
            self._review(obs, now)

    def _observed(self, obs: Observation) -> NodeResponse | ValuesResponse:
        request, tree = obs.request, self._ctx.tree
        if isinstance(request, ObserveComposite):
            values = read_values(tree, request.paths, obs.short_server_id, skip_absent=True)
            return ValuesResponse(values, obs.content_format)
        node = tree.read(request.path, server_id=obs.short_server_id)
        return NodeResponse(node, obs.content_format)

    def _notify(
        self,
        obs: Observation,
        response: NodeResponse | ValuesResponse,
        values: dict[Path, Value],
        timing: Timing,
        now: float,
    ) -> None:
        ctx = self._ctx
        try:
            parts = encode_response(obs.request, response, ctx.codecs, ctx.tree.models)
        except OperationError as exc:
            self._end(obs, exc.code, now)
            return
        pmax_due = timing.pmax is not None and now >= obs.last_sent + timing.pmax
        if ctx.asleep and pmax_due:
            assert timing.pmax is not None
            self._wake_for_pmax(obs.short_server_id, timing.pmax, now)
        confirmable = timing.confirmable
        if confirmable is None:
            confirmable = now - obs.last_confirmable >= ctx.config.confirmable_interval
        if confirmable:
            obs.last_confirmable = now
        obs.sent_values = values
        obs.last_sent = now
        obs.pending = False
        if not ctx.asleep:
            ctx.endpoint.notify(
                obs.key,
                parts.code,
                options=parts.options,
                payload=parts.payload,
                now=now,
                confirmable=confirmable,
            )
        elif self._registrar.server_flag(
            self._registrar.registrations[obs.short_server_id], srv.NOTIFICATION_STORING
        ):
            self._stored.append((obs.key, parts, confirmable))

    def _wake_for_pmax(self, ssid: int, pmax: float, now: float) -> None:
        """Pmax expiry wakes a sleeping device (the Telekom profile's timer rule 1): it
        reports, sends what it kept while asleep first, and its registration Update too when
        that would come due before the next pmax, so it wakes once per pmax cycle."""
        self._ctx.asleep = False
        self.flush_stored(now)
        self._registrar.update_before(ssid, now + pmax, now)

    def flush_stored(self, now: float) -> None:
        """Awake again: send what was kept while asleep."""
        stored = self._stored
        self._stored = deque(maxlen=self._ctx.config.max_stored_notifications)
        for key, parts, confirmable in stored:
            if key in self._observations:
                self._ctx.endpoint.notify(
                    key,
                    parts.code,
                    options=parts.options,
                    payload=parts.payload,
                    now=now,
                    confirmable=confirmable,
                )

    def _end(self, obs: Observation, code: Code, now: float) -> None:
        """Tell the observer why its observation ends (the endpoint forgets it too)."""
        self.forget(obs.key)
        if not self._ctx.asleep:
            self._ctx.endpoint.notify(obs.key, code, now=now)
