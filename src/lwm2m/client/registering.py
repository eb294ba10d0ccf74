"""The Client Registration Interface (Core §6.2): Register, Update, De-register per account.

Server accounts come from the tree (Server instances and the Security instances with the same
Short Server ID); each gets a :class:`~lwm2m.client.registration.Registration`, whose state
machine decides and :class:`Registrar` carries out.  Send requests travel through here too,
because they go to a registration's peer and end with it.  Which transport an account is
served over, and what its ``b=`` says, is :mod:`lwm2m.client.transports`'s rule.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace

from lwm2m.client.context import ClientError, EngineContext
from lwm2m.client.events import Deregistered, Registered, RegistrationFailed, SendCompleted, Updated
from lwm2m.client.registration import (
    Action,
    Parameters,
    Registration,
    State,
    Trigger,
    backoff_delay,
    update_delay,
)
from lwm2m.client.standard import security as sec
from lwm2m.client.standard import server as srv
from lwm2m.client.transports import Router, announced, initial, problem, transports
from lwm2m.client.tree import SECURITY, SERVER
from lwm2m.coap.codes import Code
from lwm2m.coap.events import Peer, ResponseReceived
from lwm2m.coap.timers import Timer
from lwm2m.codec import ContentFormat
from lwm2m.model import Path
from lwm2m.operations import (
    ClientRequest,
    Deregister,
    EmptyResponse,
    ErrorResponse,
    ObjectLinks,
    OperationError,
    Register,
    RegisteredResponse,
    Response,
    Send,
    Update,
    decode_response,
    encode_request,
)

log = logging.getLogger(__name__)

_REQUESTS = frozenset({Action.REGISTER, Action.UPDATE, Action.DEREGISTER})


def lifetime_within_psm(configured: int, t3412: int, margin: float) -> int:
    """The lifetime to register with under a granted extended T3412: the configured one
    (/1/x/1, 0 meaning none) capped at T3412 less ``margin`` (one CoAP exchange, so the
    registration outlasts the sleep to the periodic TAU by no more than that), whole seconds.
    A T3412 too short to leave room keeps the configured lifetime."""
    capped = math.floor(t3412 - margin)
    if capped < 1:
        log.warning("T3412 of %d s leaves no room for a lifetime below it", t3412)
        return configured
    return capped if configured == 0 else min(configured, capped)


class Registrar:
    """The client's registrations, by Short Server ID and by peer, and its requests in flight.

    ``on_server_gone(ssid)``: a registration ended or starts over (its observations end);
    ``on_back_off(reg, now)``: a Register failed (bootstrap may take over);
    ``on_stopped()``: a registration reached STOPPED.
    """

    def __init__(
        self,
        ctx: EngineContext,
        router: Router,
        *,
        on_server_gone: Callable[[int], None],
        on_back_off: Callable[[Registration, float], None],
        on_stopped: Callable[[], None],
    ) -> None:
        self._ctx = ctx
        self._router = router
        self._on_server_gone = on_server_gone
        self._on_back_off = on_back_off
        self._on_stopped = on_stopped
        self.registrations: dict[int, Registration] = {}
        self.by_peer: dict[Peer, Registration] = {}
        self.requests: dict[int, tuple[Registration, ClientRequest]] = {}
        """Our requests in flight by handle (registration ones and Sends)."""
        self._timers: dict[int, Timer] = {}
        self.granted_t3412: int | None = None
        """Extended T3412 (seconds) the network granted, None without PSM: see
        :meth:`psm_granted`."""

    # -- accounts ------------------------------------------------------------------------------

    def accounts(self) -> list[Registration]:
        """A new registration for every server account in the tree."""
        tree = self._ctx.tree
        servers = tree.object(SERVER)
        if not isinstance(servers, srv.ServerObject):
            raise ClientError("the Server object is not a ServerObject")
        uris: dict[int, str] = {}
        security = tree.object(SECURITY)
        for iid in security.list_instances():
            present = security.list_resources(iid)
            if sec.SHORT_SERVER_ID not in present or security.read(iid, sec.BOOTSTRAP_SERVER):
                continue
            ssid, uri = security.read(iid, sec.SHORT_SERVER_ID), security.read(iid, sec.SERVER_URI)
            if isinstance(ssid, int) and isinstance(uri, str):
                uris[ssid] = uri
        accounts = []
        for iid in servers.list_instances():
            ssid = servers.short_server_id(iid)
            if ssid not in uris:
                raise ClientError(f"server {ssid} has no Security instance")
            routes = self._router.routes(ssid, uris[ssid])
            reg = Registration(ssid, iid, next(iter(routes.values())), routes)
            binding = self._setting(reg, srv.BINDING) or "U"
            refused = problem(routes, transports(binding))
            if refused is not None:
                raise ClientError(f"server {ssid} (binding {binding!r}): {refused}")
            self._move(reg, initial(routes, binding, self._setting(reg, srv.PREFERRED_TRANSPORT)))
            accounts.append(reg)
        return accounts

    def register_all(self, accounts: list[Registration], now: float) -> None:
        for reg in accounts:
            self.registrations[reg.short_server_id] = reg
            for peer in reg.routes.values():
                self.by_peer[peer] = reg
            self.step(reg, Trigger.START, now)

    def _setting(self, reg: Registration, resource_id: int) -> str | None:
        """A string resource of the account's Server instance (Binding, Preferred Transport)."""
        servers = self._ctx.tree.object(SERVER)
        if resource_id not in servers.list_resources(reg.server_instance):
            return None
        value = servers.read(reg.server_instance, resource_id)
        return value if isinstance(value, str) else None

    def _move(self, reg: Registration, transport: str) -> None:
        reg.transport = transport
        reg.peer = reg.routes[transport]

    # -- transports ----------------------------------------------------------------------------

    def transport_problem(self, server_instance: int, asked: str) -> str | None:
        """Why the account of ``server_instance`` cannot use any of ``asked`` (letters);
        None when it can, or when it has no registration yet (checked at its Register)."""
        for reg in self.registrations.values():
            if reg.server_instance == server_instance:
                return problem(reg.routes, asked)
        return None

    def switch(self, reg: Registration, transport: str | None, now: float) -> None:
        """Update, over ``transport`` when given: the account moves there (its observations
        were made over the old one and end with it); ClientError when it is not a route."""
        if transport is not None and transport != reg.transport:
            refused = problem(reg.routes, transport)
            if refused is not None:
                raise ClientError(refused)
            if transport in reg.routes:
                log.info("server %d: %s -> %s", reg.short_server_id, reg.transport, transport)
                self._move(reg, transport)
                self._on_server_gone(reg.short_server_id)
        self.step(reg, Trigger.UPDATE, now)

    def _follow_settings(self, reg: Registration, changed: list[Path], now: float) -> None:
        """A server wrote the account's Preferred Transport (move there now) or a Binding
        that leaves out the transport in use (move to one it allows)."""
        iid, binding = reg.server_instance, self._setting(reg, srv.BINDING) or "U"
        preferred = self._setting(reg, srv.PREFERRED_TRANSPORT)
        written = {path.ids[2] for path in changed if path.depth >= 3 and path.ids[:2] == (1, iid)}
        if srv.PREFERRED_TRANSPORT in written and preferred in reg.routes:
            self.switch(reg, preferred, now)
        elif reg.transport not in transports(binding) and srv.BINDING in written:
            self.switch(reg, initial(reg.routes, binding, preferred), now)

    def suspend_all(self, now: float) -> None:
        """Drop every registration silently (a bootstrap replaces the accounts)."""
        for reg in self.registrations.values():
            self._cancel_request(reg, now)
            self._on_server_gone(reg.short_server_id)
            self._ctx.timers.cancel(self._timers.pop(reg.short_server_id, None))
            reg.deadline = None
        self.registrations.clear()
        self.by_peer.clear()

    def select(self, server_id: int | None) -> list[Registration]:
        if server_id is None:
            return list(self.registrations.values())
        reg = self.registrations.get(server_id)
        return [] if reg is None else [reg]

    def all_stopped(self) -> bool:
        return all(reg.state is State.STOPPED for reg in self.registrations.values())

    def queue_mode(self) -> bool:
        """Every registered server has ``Q`` in its binding."""
        online = [reg for reg in self.registrations.values() if reg.online]
        return bool(online) and all(
            reg.registered is not None and reg.registered.queue_mode for reg in online
        )

    def server_flag(self, reg: Registration, resource_id: int) -> bool:
        servers = self._ctx.tree.object(SERVER)
        iid = reg.server_instance
        return resource_id in servers.list_resources(iid) and servers.read(iid, resource_id) is True

    def on_changes(self, changed: list[Path], now: float) -> None:
        """Update the servers whose registration parameters the changes touched."""
        if any(path.depth <= 2 or path.ids[0] == SERVER for path in changed):
            self._update_changed(now)

    def _update_changed(self, now: float) -> None:
        for reg in self.registrations.values():
            if reg.online and self._parameters(reg) != reg.registered:
                self.step(reg, Trigger.UPDATE, now)

    def psm_granted(self, t3412: int | None, now: float) -> None:
        """The network granted PSM with extended T3412 ``t3412`` seconds (None: no PSM).
        Registrations then take a lifetime below it, the Telekom profile's timer rule 1
        (T3412 > lifetime > pmax): the registration must not expire while the device sleeps
        until its periodic TAU.  A lifetime that changes goes out in an Update."""
        self.granted_t3412 = t3412
        self._update_changed(now)

    def update_before(self, ssid: int, when: float, now: float) -> None:
        """Send ``ssid``'s Update now if it would come due before ``when`` (the device is
        awake now and would have to wake again for it)."""
        reg = self.registrations.get(ssid)
        due = None if reg is None or reg.state is not State.REGISTERED else reg.deadline
        if reg is not None and due is not None and due <= when:
            self.step(reg, Trigger.UPDATE, now)

    # -- the state machine ---------------------------------------------------------------------

    def step(self, reg: Registration, trigger: Trigger, now: float) -> None:
        action = reg.step(trigger)
        if action is None:
            return
        if action in _REQUESTS:
            try:
                self._send(reg, action, now)
            except Exception:  # what the tree holds cannot go out: fail it as unanswered
                log.exception("client %s: cannot send %s", self._ctx.endpoint_name, action.name)
                self._answered(reg, None, None, now)
        elif action is Action.SCHEDULE_UPDATE:
            reg.attempts = 0
            lifetime = reg.registered.lifetime if reg.registered is not None else 0
            delay = update_delay(lifetime, self._ctx.endpoint.config.max_transmit_wait)
            self._schedule(reg, now + delay)
            if reg.update_queued or self._parameters(reg) != reg.registered:
                reg.update_queued = False
                self.step(reg, Trigger.UPDATE, now)
        elif action is Action.BACK_OFF:
            self._on_server_gone(reg.short_server_id)
            config = self._ctx.config
            delay = backoff_delay(reg.attempts, config.retry_base, config.retry_cap, self._ctx.rng)
            reg.attempts += 1
            self._schedule(reg, now + delay)
            self._on_back_off(reg, now)
        elif action is Action.WAIT_DISABLED:
            self._schedule(reg, now + reg.disable_timeout)
        elif action is Action.QUEUE_UPDATE:
            reg.update_queued = True
        elif action is Action.CANCEL:
            self._cancel_request(reg, now)
        if reg.state is State.STOPPED:
            self._ctx.timers.cancel(self._timers.pop(reg.short_server_id, None))
            self._on_stopped()

    def _send(self, reg: Registration, action: Action, now: float) -> None:
        if action is Action.REGISTER:
            self._on_server_gone(reg.short_server_id)
            binding = self._setting(reg, srv.BINDING) or "U"
            preferred = self._setting(reg, srv.PREFERRED_TRANSPORT)
            self._move(reg, initial(reg.routes, binding, preferred))
            reg.sent = self._parameters(reg)
            self.request(reg, self._register_op(reg.sent), now)
        elif action is Action.UPDATE:
            self._update(reg, now)
        else:
            self._on_server_gone(reg.short_server_id)
            self.request(reg, Deregister(reg.location), now)

    def _schedule(self, reg: Registration, when: float) -> None:
        ssid = reg.short_server_id
        timers = self._ctx.timers
        timers.cancel(self._timers.pop(ssid, None))
        reg.deadline = when
        self._timers[ssid] = timers.schedule(when, lambda now: self.step(reg, Trigger.TIMER, now))

    def _parameters(self, reg: Registration) -> Parameters:
        tree = self._ctx.tree
        servers = tree.object(SERVER)
        iid = reg.server_instance
        present = servers.list_resources(iid)
        lifetime = servers.read(iid, srv.LIFETIME) if srv.LIFETIME in present else 86400
        binding = servers.read(iid, srv.BINDING) if srv.BINDING in present else "U"
        assert isinstance(lifetime, int) and isinstance(binding, str)
        if self.granted_t3412 is not None:
            margin = self._ctx.endpoint.config.max_transmit_wait
            lifetime = lifetime_within_psm(lifetime, self.granted_t3412, margin)
        links = ObjectLinks.from_payload(tree.object_links().encode())
        register_format = self._ctx.config.register_format
        if register_format is not None:
            links = replace(links, content_formats=(register_format,))
        binding = announced(binding, reg.routes)
        sms = self._router.msisdn if "S" in binding else None
        return Parameters(lifetime, binding, "Q" in binding, links, sms)

    def _register_op(self, params: Parameters) -> Register:
        config = self._ctx.config
        legacy = config.lwm2m_version == "1.0"
        return Register(
            endpoint=self._ctx.endpoint_name,
            objects=params.objects,
            lifetime=params.lifetime,
            lwm2m_version=config.lwm2m_version,
            binding=params.binding if legacy else params.binding.replace("Q", ""),
            queue_mode=params.queue_mode and not legacy,
            sms=params.sms,
        )

    def _update(self, reg: Registration, now: float) -> None:
        old, new = reg.registered, self._parameters(reg)
        assert old is not None
        reg.sent = new
        legacy = self._ctx.config.lwm2m_version == "1.0"
        if new.queue_mode != old.queue_mode and not legacy:
            # 1.1 says Q in Register only: entering or leaving queue mode is a new registration.
            self._on_server_gone(reg.short_server_id)
            self.request(reg, self._register_op(new), now)
            return
        binding = new.binding if legacy else new.binding.replace("Q", "")
        op = Update(
            reg.location,
            lifetime=new.lifetime if new.lifetime != old.lifetime else None,
            binding=binding if new.binding != old.binding else None,
            objects=new.objects if new.objects != old.objects else None,
            sms=new.sms if new.sms != old.sms else None,
        )
        self.request(reg, op, now)

    # -- requests ------------------------------------------------------------------------------

    def request(
        self, reg: Registration, op: ClientRequest, now: float, *, track: bool = True
    ) -> int:
        """Send ``op`` to the server; ``track`` makes it the registration's request in flight."""
        ctx = self._ctx
        if track:
            self._cancel_request(reg, now)
        parts = encode_request(op, ctx.codecs, ctx.tree.models, fmt=ContentFormat.SENML_CBOR)
        handle = ctx.endpoint.send_request(
            reg.peer, parts.code, options=parts.options, payload=parts.payload, now=now
        )
        self.requests[handle] = (reg, op)
        if track:
            reg.handle = handle
        return handle

    def _cancel_request(self, reg: Registration, now: float) -> None:
        if reg.handle is not None:
            self.requests.pop(reg.handle, None)
            self._ctx.endpoint.cancel(reg.handle, now)
            reg.handle = None

    def on_response(
        self, handle: int, code: Code | None, event: ResponseReceived | None, now: float
    ) -> None:
        """The answer to one of our requests (``code`` None: none came)."""
        ctx = self._ctx
        entry = self.requests.pop(handle, None)
        if entry is None:
            return  # cancelled, or an answer we stopped waiting for
        reg, op = entry
        if isinstance(op, Send):
            ctx.events.append(SendCompleted(handle, reg.short_server_id, code))
            return
        reg.handle = None
        response: Response | None = None
        if event is not None:
            try:
                response = decode_response(op, event.response, ctx.codecs, ctx.tree.models)
            except OperationError:
                response = None
        self._answered(reg, op, response, now, code)

    def _answered(
        self,
        reg: Registration,
        op: ClientRequest | None,
        response: Response | None,
        now: float,
        code: Code | None = None,
    ) -> None:
        """Step ``reg`` on the outcome of ``op`` (None: it could not be sent)."""
        ctx = self._ctx
        if isinstance(op, Deregister):
            ctx.events.append(Deregistered(reg.short_server_id))
            self.step(reg, Trigger.SUCCESS, now)
        elif isinstance(response, RegisteredResponse | EmptyResponse):
            reg.registered = reg.sent
            if isinstance(response, RegisteredResponse):
                reg.location = response.location
                ctx.events.append(Registered(reg.short_server_id, reg.location))
            else:
                ctx.events.append(Updated(reg.short_server_id))
            self.step(reg, Trigger.SUCCESS, now)
        else:
            not_found = isinstance(response, ErrorResponse) and response.code == Code.NOT_FOUND
            self.step(reg, Trigger.NOT_FOUND if not_found else Trigger.FAILURE, now)
            if reg.state is State.BACKING_OFF and reg.deadline is not None:
                ctx.events.append(RegistrationFailed(reg.short_server_id, code, reg.deadline))
