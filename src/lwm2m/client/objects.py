"""The object API device code implements: typed handlers per object, never content formats.

Like Anjay's object handlers, an :class:`ObjectImplementation` answers for one object: which
instances and resources exist, their values, and what writes, executes, creates and deletes do.
The :class:`~lwm2m.client.tree.ObjectTree` checks paths, access rights, operations and value types
against the object's model before it calls a handler, so handlers only deal with device logic.

A multiple resource is read and written as ``{resource instance ID: value}``.

Change notices and device events (a Reboot executed, a Registration Update triggered) reach
whoever subscribed through :meth:`ObjectImplementation.subscribe`; the tree forwards them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from lwm2m.coap.codes import Code
from lwm2m.model import ObjectModel, Path, Value, value_problem
from lwm2m.operations.errors import OperationError
from lwm2m.operations.execute import parse_arguments

ResourceValue = Value | Mapping[int, Value]
"""A single resource's value, or a multiple resource's ``{resource instance ID: value}``."""


class ObjectError(Exception):
    """A failed operation; ``code`` is the CoAP response to send for it."""

    code = Code.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)


class BadRequestError(ObjectError):
    """A value or argument the model or the device does not accept."""

    code = Code.BAD_REQUEST


class UnauthorizedError(ObjectError):
    """The server has no access right for the operation (Core §7.3)."""

    code = Code.UNAUTHORIZED


class NotFoundError(ObjectError):
    """The object, instance, resource or resource instance does not exist."""

    code = Code.NOT_FOUND


class MethodNotAllowedError(ObjectError):
    """The operation is not one the target allows (reading an executable resource, ...)."""

    code = Code.METHOD_NOT_ALLOWED


class InternalError(ObjectError):
    """The device failed to carry out a valid request."""

    code = Code.INTERNAL_SERVER_ERROR


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Something the device reports to its engines; subclasses say what."""


@dataclass(frozen=True, slots=True)
class Changed(DeviceEvent):
    """Values at or under ``path`` changed, or the instance at ``path`` appeared or went away."""

    path: Path


Listener = Callable[[DeviceEvent], None]


def parse_execute_args(args: str) -> dict[int, str | None]:
    """Execute arguments (Core §5.4.5) by digit: ``0='U',1`` gives ``{0: 'U', 1: None}``."""
    try:
        parsed = parse_arguments(args.encode("ascii"))
    except UnicodeEncodeError:
        raise BadRequestError("execute arguments are not ASCII") from None
    except OperationError as exc:
        raise BadRequestError(exc.message) from None
    by_digit = {arg.digit: arg.value for arg in parsed}
    if len(by_digit) != len(parsed):
        raise BadRequestError("an execute argument is given twice")
    return by_digit


class EventSource:
    """Hands every emitted :class:`DeviceEvent` to the current subscribers."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event from now on; returns the unsubscriber."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: DeviceEvent) -> None:
        for listener in list(self._listeners):
            listener(event)


class ObjectImplementation(EventSource):
    """One object's handlers.  Override what the object supports; the rest answer 4.05."""

    def __init__(self, model: ObjectModel) -> None:
        super().__init__()
        self.model = model

    @property
    def object_id(self) -> int:
        return self.model.id

    def list_instances(self) -> list[int]:
        raise NotImplementedError

    def list_resources(self, instance_id: int) -> list[int]:
        """IDs of the resources present in the instance (executables included)."""
        raise NotImplementedError

    def read(self, instance_id: int, resource_id: int) -> ResourceValue:
        raise MethodNotAllowedError("read not supported")

    def write(
        self, instance_id: int, resource_id: int, value: ResourceValue, *, replace: bool
    ) -> None:
        """Write one resource; for a multiple one ``replace`` drops instances not in ``value``."""
        raise MethodNotAllowedError("write not supported")

    def reset_instance(self, instance_id: int) -> None:
        """Clear what servers wrote to the instance, ahead of a Write-Replace of all of it."""
        raise MethodNotAllowedError("replacing instances not supported")

    def execute(self, instance_id: int, resource_id: int, args: str) -> None:
        raise MethodNotAllowedError("execute not supported")

    def create(self, instance_id: int, values: Mapping[int, ResourceValue]) -> None:
        raise MethodNotAllowedError("create not supported")

    def delete(self, instance_id: int) -> None:
        raise MethodNotAllowedError("delete not supported")

    def notify_changed(self, path: Path) -> None:
        """Report a change the device made on its own (servers' writes the tree reports)."""
        self.emit(Changed(path))

    def path(self, *ids: int) -> Path:
        return Path((self.object_id, *ids))


Reader = Callable[[int], ResourceValue]
"""``reader(instance_id)``: the current value of a resource computed on each read."""
Writer = Callable[[int, ResourceValue], None]
"""``writer(instance_id, value)``: checks or acts on a server's write before it is stored."""
Executor = Callable[[int, str], None]
"""``executor(instance_id, args)``: what executing the resource does."""


class SimpleObject(ObjectImplementation):
    """An object whose instances store typed values, with optional per-resource callbacks.

    ``supported`` names the resources servers may write or create (default: all in the
    model); resources present are those stored plus those with a reader or an executor.
    Servers may create and delete instances of a multiple-instance object unless
    ``creatable`` says otherwise.
    """

    def __init__(
        self,
        model: ObjectModel,
        instances: Mapping[int, Mapping[int, ResourceValue]] | None = None,
        *,
        readers: Mapping[int, Reader] | None = None,
        writers: Mapping[int, Writer] | None = None,
        executors: Mapping[int, Executor] | None = None,
        supported: Iterable[int] | None = None,
        creatable: bool | None = None,
    ) -> None:
        super().__init__(model)
        self._readers = dict(readers or {})
        self._writers = dict(writers or {})
        self._executors = dict(executors or {})
        self._supported = frozenset(model.resources if supported is None else supported)
        self._creatable = model.multiple if creatable is None else creatable
        self._instances: dict[int, dict[int, Value | dict[int, Value]]] = {}
        for iid, values in (instances or {}).items():
            self._store_instance(iid, values)

    # -- device side ---------------------------------------------------------------------------

    def get(self, instance_id: int, resource_id: int) -> ResourceValue:
        """The stored value (readers are not consulted)."""
        stored = self._resources(instance_id).get(resource_id)
        if stored is None:
            raise NotFoundError("no such resource", path=self.path(instance_id, resource_id))
        return stored

    def set(self, instance_id: int, resource_id: int, value: ResourceValue) -> None:
        """Store a value the device measured or decided; notifies when it changed."""
        resources = self._resources(instance_id)
        new = _stored(self.model, resource_id, value)
        if resources.get(resource_id) != new:
            resources[resource_id] = new
            self.notify_changed(self.path(instance_id, resource_id))

    def unset(self, instance_id: int, resource_id: int) -> None:
        """Remove an optional resource from the instance; notifies when it was present."""
        if self._resources(instance_id).pop(resource_id, None) is not None:
            self.notify_changed(self.path(instance_id, resource_id))

    # -- handlers ------------------------------------------------------------------------------

    def list_instances(self) -> list[int]:
        return sorted(self._instances)

    def list_resources(self, instance_id: int) -> list[int]:
        present = set(self._resources(instance_id)) | set(self._readers) | set(self._executors)
        return sorted(present)

    def read(self, instance_id: int, resource_id: int) -> ResourceValue:
        reader = self._readers.get(resource_id)
        if reader is not None:
            self._resources(instance_id)
            return reader(instance_id)
        value = self.get(instance_id, resource_id)
        return dict(value) if isinstance(value, dict) else value

    def write(
        self, instance_id: int, resource_id: int, value: ResourceValue, *, replace: bool
    ) -> None:
        resources = self._resources(instance_id)
        self._check_supported(instance_id, resource_id)
        writer = self._writers.get(resource_id)
        if writer is not None:
            with _blame(self.path(instance_id, resource_id)):
                writer(instance_id, value)
        new = _stored(self.model, resource_id, value)
        old = resources.get(resource_id)
        if isinstance(new, dict) and isinstance(old, dict) and not replace:
            new = {**old, **new}
        resources[resource_id] = new

    def reset_instance(self, instance_id: int) -> None:
        resources = self._resources(instance_id)
        for rid, value in list(resources.items()):
            resource = self.model.resource(rid)
            if resource is None or not resource.operations.writable:
                continue
            if isinstance(value, dict):
                resources[rid] = {}
            elif not resource.mandatory:
                del resources[rid]

    def execute(self, instance_id: int, resource_id: int, args: str) -> None:
        self._resources(instance_id)
        executor = self._executors.get(resource_id)
        if executor is None:
            raise NotFoundError("not implemented", path=self.path(instance_id, resource_id))
        with _blame(self.path(instance_id, resource_id)):
            executor(instance_id, args)

    def create(self, instance_id: int, values: Mapping[int, ResourceValue]) -> None:
        if not self._creatable:
            raise MethodNotAllowedError("instances cannot be created", path=self.path())
        if instance_id in self._instances:
            raise BadRequestError("instance exists", path=self.path(instance_id))
        if self._instances and not self.model.multiple:
            raise BadRequestError("single-instance object has its instance", path=self.path())
        for rid in values:
            self._check_supported(instance_id, rid)
        self._store_instance(instance_id, values)

    def delete(self, instance_id: int) -> None:
        if not self._creatable:
            raise MethodNotAllowedError("instances cannot be deleted", path=self.path())
        self._resources(instance_id)
        del self._instances[instance_id]

    # -- internals -----------------------------------------------------------------------------

    def _resources(self, instance_id: int) -> dict[int, Value | dict[int, Value]]:
        resources = self._instances.get(instance_id)
        if resources is None:
            raise NotFoundError("no such instance", path=self.path(instance_id))
        return resources

    def _check_supported(self, instance_id: int, resource_id: int) -> None:
        if resource_id not in self._supported:
            raise NotFoundError("not supported", path=self.path(instance_id, resource_id))

    def _store_instance(self, instance_id: int, values: Mapping[int, ResourceValue]) -> None:
        self._instances[instance_id] = {
            rid: _stored(self.model, rid, value) for rid, value in values.items()
        }


@contextmanager
def _blame(path: Path) -> Iterator[None]:
    """Name ``path`` in errors a callback raised without saying where."""
    try:
        yield
    except ObjectError as exc:
        if exc.path is not None:
            raise
        raise type(exc)(exc.message, path=path) from None


def _stored(model: ObjectModel, resource_id: int, value: ResourceValue) -> Value | dict[int, Value]:
    """Copy ``value`` for storage, checking it against the model (device code bugs raise)."""
    resource = model.resource(resource_id)
    if resource is None:
        raise ValueError(f"/{model.id}/x/{resource_id} is not in the model")
    values = value if isinstance(value, Mapping) else {0: value}
    if resource.multiple != isinstance(value, Mapping):
        raise ValueError(f"/{model.id}/x/{resource_id}: multiple={resource.multiple} mismatch")
    for item in values.values():
        problem = value_problem(resource.type, item)
        if problem is not None:
            raise ValueError(f"/{model.id}/x/{resource_id}: {problem}")
    return dict(value) if isinstance(value, Mapping) else value


__all__ = [
    "BadRequestError",
    "Changed",
    "DeviceEvent",
    "EventSource",
    "Executor",
    "InternalError",
    "Listener",
    "MethodNotAllowedError",
    "NotFoundError",
    "ObjectError",
    "ObjectImplementation",
    "Reader",
    "ResourceValue",
    "SimpleObject",
    "UnauthorizedError",
    "Writer",
    "parse_execute_args",
]
