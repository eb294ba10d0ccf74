"""The client side of the Bootstrap Interface (Core §6.1): Bootstrap-Request, serving the
bootstrap server until Bootstrap-Finish, and the check of what it wrote.

It starts without a server account, after N failed Register attempts to a server whose /1/x/16
allows it, or when a server executes /1/x/9: registrations are suspended, the bootstrap server
(the Security instance with /0/x/1 true) is asked and served with the device's own rights
(``server_id=None``) until Bootstrap-Finish; then the client registers with the accounts it was
given.  The state machine is :mod:`lwm2m.client.bootstrap`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from lwm2m.client import bootstrap as bs
from lwm2m.client.context import BOOTSTRAP_SSID, ClientError, EngineContext
from lwm2m.client.events import BootstrapFailed, Bootstrapped
from lwm2m.client.objects import MethodNotAllowedError, ObjectError, ObjectImplementation
from lwm2m.client.registering import Registrar
from lwm2m.client.registration import Registration, backoff_delay
from lwm2m.client.standard import security as sec
from lwm2m.client.standard import server as srv
from lwm2m.client.tree import OSCORE, SECURITY, SERVER
from lwm2m.coap.codes import Code
from lwm2m.coap.endpoint import StaleHandleError
from lwm2m.coap.events import Peer, RequestReceived
from lwm2m.coap.options import Options
from lwm2m.coap.timers import Timer
from lwm2m.codec import ContentFormat
from lwm2m.model import (
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectLink,
    Path,
    SingleResource,
)
from lwm2m.operations import (
    BootstrapFinish,
    BootstrapRequest,
    CoapParts,
    Delete,
    Discover,
    EmptyResponse,
    Inventory,
    InventoryEntry,
    LinksResponse,
    NodeResponse,
    Operation,
    OperationError,
    Read,
    Response,
    Write,
    check_bootstrap,
    decode_request,
    encode_error,
    encode_request,
    encode_response,
)

log = logging.getLogger(__name__)

DEVICE = 3
"""The Device object, whose instance Bootstrap-Delete of ``/`` leaves (Core 1.1 §5.2.7.5)."""


class BootstrapClient:
    """The client's bootstrap server account; ``on_stopped()`` when a bootstrap is cancelled."""

    def __init__(
        self, ctx: EngineContext, registrar: Registrar, *, on_stopped: Callable[[], None]
    ) -> None:
        self._ctx = ctx
        self._registrar = registrar
        self._on_stopped = on_stopped
        self._bootstrap = bs.Bootstrap()
        self._timer: Timer | None = None
        self._hold_off = 0.0

    @property
    def state(self) -> bs.State:
        return self._bootstrap.state

    @property
    def busy(self) -> bool:
        return self._bootstrap.busy

    def serves(self, peer: Peer) -> bool:
        """Whether requests from ``peer`` are the bootstrap server's."""
        return self._bootstrap.busy and peer == self._bootstrap.peer

    def is_request(self, handle: int) -> bool:
        """Whether ``handle`` is our Bootstrap-Request in flight."""
        return handle == self._bootstrap.handle

    @property
    def peer(self) -> Peer | None:
        return self._bootstrap.peer

    def has_account(self) -> bool:
        return self._account() is not None

    # -- starting and stopping -----------------------------------------------------------------

    def begin(self, now: float, *, cold: bool) -> None:
        """Suspend every registration and ask the bootstrap server (after the hold-off when
        ``cold``)."""
        account = self._account()
        if account is None:
            self._ctx.events.append(BootstrapFailed(None, "no bootstrap server account", None))
            return
        self._registrar.suspend_all(now)
        self._hold_off = float(account[2]) if cold else 0.0
        self._step(bs.Trigger.START, now)

    def stop(self, now: float) -> None:
        self._step(bs.Trigger.STOP, now)

    def fall_back(self, reg: Registration, now: float) -> None:
        """Bootstrap if failed Register attempts to ``reg`` now call for it (ETS int-7)."""
        if self._account() is None or self._bootstrap.busy:
            return
        servers = self._ctx.tree.object(SERVER)
        iid = reg.server_instance
        if iid not in servers.list_instances():
            return
        present = servers.list_resources(iid)
        allowed = (
            servers.read(iid, srv.BOOTSTRAP_ON_FAILURE)
            if srv.BOOTSTRAP_ON_FAILURE in present
            else True
        )
        limit = (
            servers.read(iid, srv.RETRY_COUNT)
            if srv.RETRY_COUNT in present
            else self._ctx.config.bootstrap_after
        )
        assert isinstance(limit, int)
        if allowed is True and reg.attempts >= max(1, limit):
            self.begin(now, cold=False)

    def unreachable(self, peer: Peer, now: float) -> None:
        """The transport to ``peer`` failed: a Bootstrap-Request to it fails now."""
        boot = self._bootstrap
        if boot.handle is not None and boot.peer == peer:
            with contextlib.suppress(StaleHandleError):
                self._ctx.endpoint.cancel(boot.handle, now)
            self.on_answer(None, b"", now)

    # -- the state machine ---------------------------------------------------------------------

    def _account(self) -> tuple[int, str, int] | None:
        """The bootstrap server's Security instance, URI and Client Hold Off Time."""
        security = self._ctx.tree.object(SECURITY)
        for iid in security.list_instances():
            present = security.list_resources(iid)
            if sec.BOOTSTRAP_SERVER in present and security.read(iid, sec.BOOTSTRAP_SERVER):
                uri = security.read(iid, sec.SERVER_URI)
                hold_off = (
                    security.read(iid, sec.CLIENT_HOLD_OFF_TIME)
                    if sec.CLIENT_HOLD_OFF_TIME in present
                    else 0
                )
                assert isinstance(uri, str) and isinstance(hold_off, int)
                return iid, uri, hold_off
        return None

    def _step(self, trigger: bs.Trigger, now: float) -> None:
        boot, ctx = self._bootstrap, self._ctx
        action = boot.step(trigger)
        if action is None:
            return
        ctx.timers.cancel(self._timer)
        self._timer = None
        if action is bs.Action.HOLD_OFF:
            self._schedule(now + self._hold_off)
        elif action is bs.Action.REQUEST:
            self._request(now)
        elif action is bs.Action.WAIT_FINISH:
            self._schedule(now + self._timeout())
        elif action is bs.Action.BACK_OFF:
            config = ctx.config
            delay = backoff_delay(boot.attempts, config.retry_base, config.retry_cap, ctx.rng)
            boot.attempts += 1
            self._schedule(now + delay)
        elif action is bs.Action.APPLY:
            boot.attempts = 0
            boot.peer = None
            self._apply(now)
        elif action is bs.Action.CANCEL:
            if boot.handle is not None:
                with contextlib.suppress(StaleHandleError):
                    ctx.endpoint.cancel(boot.handle, now)
            boot.handle = boot.peer = None
            self._on_stopped()

    def _schedule(self, when: float) -> None:
        self._timer = self._ctx.timers.schedule(when, self._on_timer)

    def _on_timer(self, now: float) -> None:
        self._timer = None
        if self._bootstrap.state is bs.State.BOOTSTRAPPING:
            self._failed(None, "no Bootstrap-Finish in time", now, bs.Trigger.TIMER)
        else:
            self._step(bs.Trigger.TIMER, now)

    def _timeout(self) -> float:
        timeout = self._ctx.config.bootstrap_timeout
        return self._ctx.endpoint.config.exchange_lifetime if timeout is None else timeout

    def _request(self, now: float) -> None:
        boot, ctx = self._bootstrap, self._ctx
        account = self._account()
        try:
            if account is None:
                raise ClientError("the bootstrap server account was deleted")
            boot.peer = ctx.resolve(BOOTSTRAP_SSID, account[1])
        except ClientError as exc:
            self._failed(None, str(exc), now)
            return
        pct = None if ctx.config.lwm2m_version == "1.0" else ContentFormat.SENML_CBOR
        op = BootstrapRequest(ctx.endpoint_name, pct)
        parts = encode_request(op, ctx.codecs, ctx.tree.models)
        boot.handle = ctx.endpoint.send_request(
            boot.peer, parts.code, options=parts.options, payload=parts.payload, now=now
        )

    def on_answer(self, code: Code | None, payload: bytes, now: float) -> None:
        """The answer to the Bootstrap-Request (``code`` None: none came)."""
        self._bootstrap.handle = None
        if code == Code.CHANGED:
            self._step(bs.Trigger.ACCEPTED, now)
        elif self._bootstrap.state is bs.State.REQUESTING:
            reason = (
                "no answer" if code is None else payload.decode(errors="replace") or code.dotted
            )
            self._failed(code, reason, now)

    def _failed(
        self, code: Code | None, reason: str, now: float, trigger: bs.Trigger = bs.Trigger.REFUSED
    ) -> None:
        self._step(trigger, now)
        retry_at = self._timer.deadline if self._timer is not None else None
        self._ctx.events.append(BootstrapFailed(code, reason, retry_at))

    def _apply(self, now: float) -> None:
        servers = self._ctx.tree.object(SERVER)
        assert isinstance(servers, srv.ServerObject)
        for iid in servers.list_instances():
            if servers.model.resource(srv.LAST_BOOTSTRAPPED) is not None:
                servers.set(iid, srv.LAST_BOOTSTRAPPED, int(now))
        accounts = self._registrar.accounts()
        self._ctx.events.append(Bootstrapped(tuple(reg.short_server_id for reg in accounts)))
        self._registrar.register_all(accounts, now)

    # -- serving the bootstrap server ----------------------------------------------------------

    def serve(self, event: RequestReceived, now: float) -> None:
        """A request of the bootstrap server, served with the device's own rights."""
        ctx = self._ctx
        if self._bootstrap.state is bs.State.REQUESTING:  # its first request overtook the 2.04
            self._step(bs.Trigger.ACCEPTED, now)
        if not self._bootstrap.active:
            ctx.respond(
                event.exchange, encode_error(Code.UNAUTHORIZED, "no bootstrap under way"), now
            )
            return
        ctx.timers.cancel(self._timer)  # the bootstrap server is alive: wait again
        self._schedule(now + self._timeout())
        try:
            op = check_bootstrap(decode_request(event.request, ctx.codecs, ctx.tree.models))
            if isinstance(op, BootstrapFinish):
                self._finish(event, now)
                return
            response, fmt = self._perform(op)
            parts = encode_response(op, response, ctx.codecs, ctx.tree.models, fmt=fmt)
        except (OperationError, ObjectError) as exc:
            parts = encode_error(exc.code, exc.message)
        except Exception as exc:  # a bug in device code must not take the client down
            log.exception("client %s: bootstrap request failed", ctx.endpoint_name)
            parts = encode_error(Code.INTERNAL_SERVER_ERROR, type(exc).__name__)
        ctx.respond(event.exchange, parts, now)

    def _finish(self, event: RequestReceived, now: float) -> None:
        """Bootstrap-Finish: 2.04 and register, or 4.06 and bootstrap again later."""
        problem = self._inconsistency()
        if problem is None:
            self._ctx.respond(event.exchange, CoapParts(Code.CHANGED, Options()), now)
            self._step(bs.Trigger.FINISHED, now)
        else:
            self._ctx.respond(event.exchange, encode_error(Code.NOT_ACCEPTABLE, problem), now)
            self._failed(Code.NOT_ACCEPTABLE, problem, now, bs.Trigger.INCONSISTENT)

    def _inconsistency(self) -> str | None:
        """Why the configuration cannot be used (the Bootstrap-Finish check), None if it can."""
        try:
            accounts = self._registrar.accounts()
        except ClientError as exc:
            return str(exc)
        if not accounts:
            return "no LwM2M server account"
        return None

    def _perform(self, op: Operation) -> tuple[Response, int | None]:
        tree = self._ctx.tree
        match op:
            case Discover(path):
                return LinksResponse(self._inventory(path).to_links()), None
            case Read(path):
                node = tree.read(path, server_id=None)
                return NodeResponse(node), self._ctx.node_format(node)
            case Write(path, node):
                self._write(path, node)
            case Delete(path):
                self._delete(path)
        return EmptyResponse(), None

    def _inventory(self, path: Path) -> Inventory:
        """What Bootstrap-Discover of ``/`` or an object shows."""
        tree = self._ctx.tree
        objects = list(tree) if path.is_root else [tree.object(path.ids[0])]
        entries = []
        for obj in objects:
            oid = obj.object_id
            version = None if obj.model.version == "1.0" else obj.model.version
            instances = obj.list_instances()
            if version is not None or not instances:
                entries.append(InventoryEntry(Path.of(oid), version=version))
            for iid in instances:
                ssid, uri = None, None
                if oid == SECURITY:
                    uri = _str_or_none(_present_value(obj, iid, sec.SERVER_URI))
                    if not self._is_bootstrap_account(iid):
                        ssid = _int_or_none(_present_value(obj, iid, sec.SHORT_SERVER_ID))
                elif oid == SERVER:
                    ssid = _int_or_none(_present_value(obj, iid, srv.SHORT_SERVER_ID))
                entries.append(InventoryEntry(Path.of(oid, iid), ssid, uri))
        return Inventory(tuple(entries), self._ctx.config.lwm2m_version)

    def _is_bootstrap_account(self, security_iid: int) -> bool:
        security = self._ctx.tree.object(SECURITY)
        present = security.list_resources(security_iid)
        return (
            sec.BOOTSTRAP_SERVER in present
            and security.read(security_iid, sec.BOOTSTRAP_SERVER) is True
        )

    def _protected(self, path: Path) -> bool:
        """Instances Bootstrap-Delete leaves: the bootstrap account, its OSCORE context and the
        Device instance."""
        oid, iid = path.ids
        if oid == DEVICE:
            return True
        if oid == SECURITY:
            return self._is_bootstrap_account(iid)
        if oid == OSCORE:
            security = self._ctx.tree.object(SECURITY)
            return any(
                self._is_bootstrap_account(sid)
                and sec.OSCORE_SECURITY_MODE in security.list_resources(sid)
                and security.read(sid, sec.OSCORE_SECURITY_MODE) == ObjectLink(OSCORE, iid)
                for sid in security.list_instances()
            )
        return False

    def _delete(self, path: Path) -> None:
        tree = self._ctx.tree
        if path.is_instance:
            if self._protected(path):
                raise OperationError(Code.BAD_REQUEST, f"{path} is not deleted by bootstrap")
            try:
                tree.delete(path, server_id=None)
            except ObjectError as exc:
                raise OperationError(Code.BAD_REQUEST, str(exc)) from None
            return
        objects = list(tree) if path.is_root else [tree.object(path.ids[0])]
        for obj in objects:
            for iid in obj.list_instances():
                target = Path.of(obj.object_id, iid)
                if not self._protected(target):
                    # Instances the device cannot delete (single-instance objects) stay.
                    with contextlib.suppress(MethodNotAllowedError):
                        tree.delete(target, server_id=None)

    def _write(self, path: Path, node: Node) -> None:
        """Bootstrap-Write: instances are created as needed, resources not named are kept."""
        tree = self._ctx.tree
        obj = tree.object(path.ids[0])
        if path.depth > 2 and path.ids[1] not in obj.list_instances():
            if not isinstance(node, SingleResource | MultipleResource):
                raise OperationError(Code.NOT_FOUND, f"{path.parent} does not exist")
            instance = Path(path.ids[:2])
            tree.write(
                instance,
                ObjectInstance(path.ids[1], {node.id: node}),
                replace=False,
                server_id=None,
            )
            return
        tree.write(path, node, replace=path.depth > 2, server_id=None)


def _present_value(obj: ObjectImplementation, iid: int, rid: int) -> object:
    return obj.read(iid, rid) if rid in obj.list_resources(iid) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
