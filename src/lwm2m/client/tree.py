"""The device's whole data model, addressed by path, with the checks of Core §5.4 and §7.3.

Every operation names the server asking (its Short Server ID).  ``server_id=None`` is the
bootstrap server or the device itself: it reaches the Security and OSCORE objects, writes
read-only resources and creates instances by writing them (Bootstrap-Write), and no access
control applies to it.  Device-management servers get 4.01 for the Security and OSCORE objects,
and, once there is more than one of them, only what the Access Control object grants.

The tree reports what servers change (one :class:`Changed` per written resource, created or
deleted instance); objects report what the device changes on its own.  An observer of ``P``
cares about a change at ``C`` when either path is a prefix of the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from lwm2m.client.objects import (
    BadRequestError,
    Changed,
    EventSource,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    ObjectImplementation,
    ResourceValue,
    UnauthorizedError,
    parse_execute_args,
)
from lwm2m.client.standard.access_control import OBJECT_LEVEL, Access, AccessControlObject
from lwm2m.client.standard.server import SHORT_SERVER_ID
from lwm2m.model import (
    ModelRegistry,
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectNode,
    Path,
    Resource,
    ResourceInstance,
    ResourceModel,
    SingleResource,
    range_problem,
    value_problem,
)

SECURITY = 0
SERVER = 1
ACCESS_CONTROL = 2
OSCORE = 21
BOOTSTRAP_ONLY = frozenset({SECURITY, OSCORE})
"""Objects only the bootstrap server may touch (Core §7.1, §E.1, §E.11)."""

ALL_RIGHTS = Access.FULL | Access.CREATE


@dataclass(frozen=True, slots=True)
class DiscoverEntry:
    """One link of a Discover answer; the observe engine fills in ``attributes``."""

    path: Path
    dim: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        params = [] if self.dim is None else [f"dim={self.dim}"]
        params += [f"{name}={value}" for name, value in self.attributes.items()]
        return ";".join([f"<{self.path}>", *params])


class ObjectTree(EventSource):
    """Objects by ID; dispatches operations by path to their :class:`ObjectImplementation`.

    Subscribers get every object's events as well as the tree's own change notices.
    """

    def __init__(self, objects: Iterable[ObjectImplementation] = ()) -> None:
        super().__init__()
        self._objects: dict[int, ObjectImplementation] = {}
        self.models = ModelRegistry()
        """The models of the objects present, for the codecs."""
        for obj in objects:
            self.add(obj)

    # -- composition -----------------------------------------------------------------------

    def add(self, obj: ObjectImplementation) -> None:
        if obj.object_id in self._objects:
            raise ValueError(f"object {obj.object_id} is already in the tree")
        self._objects[obj.object_id] = obj
        self.models.add(obj.model)
        obj.subscribe(self.emit)

    def object(self, object_id: int) -> ObjectImplementation:
        obj = self._objects.get(object_id)
        if obj is None:
            raise NotFoundError("no such object", path=Path.of(object_id))
        return obj

    def __contains__(self, object_id: int) -> bool:
        return object_id in self._objects

    def __iter__(self) -> Iterator[ObjectImplementation]:
        return iter(sorted(self._objects.values(), key=lambda obj: obj.object_id))

    # -- queries ---------------------------------------------------------------------------

    def server_ids(self) -> list[int]:
        """Short Server IDs of the Server object instances."""
        servers = self._objects.get(SERVER)
        if servers is None:
            return []
        ids = [servers.read(iid, SHORT_SERVER_ID) for iid in servers.list_instances()]
        return sorted(ssid for ssid in ids if isinstance(ssid, int))

    def rights(self, server_id: int | None, object_id: int, instance_id: int) -> Access:
        """Access rights of a server on an instance (``instance_id`` 65535: Create)."""
        if server_id is None:
            return ALL_RIGHTS
        if object_id in BOOTSTRAP_ONLY:
            return Access.NONE
        acl = self._objects.get(ACCESS_CONTROL)
        if not isinstance(acl, AccessControlObject):
            return ALL_RIGHTS
        if object_id != ACCESS_CONTROL and len(self.server_ids()) <= 1:
            return ALL_RIGHTS
        return acl.rights(server_id, object_id, instance_id)

    def new_instance_id(self, object_id: int) -> int:
        """The lowest free instance ID, for a Create that names none."""
        taken = set(self.object(object_id).list_instances())
        return next(iid for iid in range(OBJECT_LEVEL) if iid not in taken)

    def object_links(self) -> str:
        """The Register/Update object list: ``</1/0>,</3>;ver=1.1,</3/0>,</5>``."""
        links: list[str] = []
        for obj in self:
            if obj.object_id in BOOTSTRAP_ONLY:
                continue
            instances = obj.list_instances()
            if obj.model.version != "1.0":
                links.append(f"</{obj.object_id}>;ver={obj.model.version}")
            elif not instances:
                links.append(f"</{obj.object_id}>")
            links += [f"</{obj.object_id}/{iid}>" for iid in instances]
        return ",".join(links)

    # -- operations ------------------------------------------------------------------------

    def read(self, path: Path, *, server_id: int | None) -> Node:
        obj = self._target(path, server_id)
        if path.is_object:
            visible = [
                iid
                for iid in obj.list_instances()
                if Access.READ in self.rights(server_id, obj.object_id, iid)
            ]
            if obj.list_instances() and not visible:
                raise UnauthorizedError("no readable instance", path=path)
            return ObjectNode(
                obj.object_id, {iid: self._read_instance(obj, iid, server_id) for iid in visible}
            )
        iid = self._instance(obj, path, Access.READ, server_id)
        if path.is_instance:
            return self._read_instance(obj, iid, server_id)
        resource = self._present(obj, path)
        if not _readable(resource, server_id):
            raise MethodNotAllowedError("resource is not readable", path=path)
        node = self._read_resource(obj, iid, resource)
        if path.is_resource:
            return node
        ri = path.ids[3]
        if not isinstance(node, MultipleResource) or ri not in node.instances:
            raise NotFoundError("no such resource instance", path=path)
        return ResourceInstance(ri, node.instances[ri])

    def write(self, path: Path, node: Node, *, replace: bool, server_id: int | None) -> None:
        """Write-Replace (``replace``) or Write-Partial-Update at instance level or deeper.

        Everything is checked before anything is written.  A replaced instance loses what
        servers wrote to it and the payload does not repeat; a replaced multiple resource loses
        the instances the payload does not repeat.
        """
        obj = self._target(path, server_id)
        if path.is_object:
            if server_id is not None or not isinstance(node, ObjectNode):
                raise MethodNotAllowedError("cannot write an object", path=path)
            for instance in node.instances.values():
                self._write_instance(obj, path.child(instance.id), instance, replace, server_id)
            return
        if path.is_instance:
            if not isinstance(node, ObjectInstance) or node.id != path.ids[1]:
                raise BadRequestError("payload is not this instance", path=path)
            self._write_instance(obj, path, node, replace, server_id)
            return
        iid = self._instance(obj, path, Access.WRITE, server_id)
        rid = path.ids[2]
        if path.is_resource:
            if not isinstance(node, (SingleResource, MultipleResource)):
                raise BadRequestError("payload is not this resource", path=path)
            if node.id != rid:
                raise BadRequestError(f"payload is resource {node.id}", path=path)
            value = self._checked(obj, path, node, server_id)
            obj.write(iid, rid, value, replace=replace)
        else:
            if not isinstance(node, ResourceInstance) or node.id != path.ids[3]:
                raise BadRequestError("payload is not this resource instance", path=path)
            resource = self._model(obj, path)
            if not resource.multiple:
                raise NotFoundError("single resource has no instances", path=path)
            single = MultipleResource(rid, {node.id: node.value})
            value = self._checked(obj, path.parent, single, server_id)
            obj.write(iid, rid, value, replace=False)
        self.emit(Changed(path))

    def execute(self, path: Path, args: str = "", *, server_id: int | None) -> None:
        if not path.is_resource:
            raise MethodNotAllowedError("only resources are executed", path=path)
        obj = self._target(path, server_id)
        iid = self._instance(obj, path, Access.EXECUTE, server_id)
        resource = self._present(obj, path)
        if not resource.operations.executable:
            raise MethodNotAllowedError("resource is not executable", path=path)
        try:
            parse_execute_args(args)
        except BadRequestError as exc:
            raise BadRequestError(exc.message, path=path) from None
        obj.execute(iid, resource.id, args)

    def create(
        self, path: Path, node: ObjectNode | ObjectInstance, *, server_id: int | None
    ) -> list[int]:
        """Create the instance(s) in ``node``; returns their IDs."""
        if not path.is_object:
            raise MethodNotAllowedError("instances are created in an object", path=path)
        obj = self._target(path, server_id)
        if Access.CREATE not in self.rights(server_id, obj.object_id, OBJECT_LEVEL):
            raise UnauthorizedError("no Create right", path=path)
        if isinstance(node, ObjectNode) and node.id != obj.object_id:
            raise BadRequestError(f"payload is object {node.id}", path=path)
        instances = list(node.instances.values()) if isinstance(node, ObjectNode) else [node]
        if not instances:
            raise BadRequestError("no instance to create", path=path)
        checked = [
            (
                instance.id,
                self._checked_instance(
                    obj, path.child(instance.id), instance, server_id, creating=True
                ),
            )
            for instance in instances
        ]
        for iid, _ in checked:
            if iid in obj.list_instances():
                raise BadRequestError("instance exists", path=path.child(iid))
        acl = self._objects.get(ACCESS_CONTROL)
        for iid, values in checked:
            obj.create(iid, values)
            if server_id is not None and isinstance(acl, AccessControlObject):
                acl.grant(obj.object_id, iid, owner=server_id)
            self.emit(Changed(path.child(iid)))
        return [iid for iid, _ in checked]

    def delete(self, path: Path, *, server_id: int | None) -> None:
        if not path.is_instance:
            raise MethodNotAllowedError("only instances are deleted", path=path)
        obj = self._target(path, server_id)
        iid = self._instance(obj, path, Access.DELETE, server_id)
        obj.delete(iid)
        acl = self._objects.get(ACCESS_CONTROL)
        if isinstance(acl, AccessControlObject) and obj is not acl:
            acl.revoke(obj.object_id, iid)
        self.emit(Changed(path))

    def discover(
        self, path: Path, *, server_id: int | None, depth: int | None = None
    ) -> list[DiscoverEntry]:
        """The links of a Discover answer, ``depth`` levels below ``path``.

        The default depth lists an object's instances and their resources, an instance's
        resources and a multiple resource's instances.  Discover needs no access right.
        """
        obj = self._target(path, server_id)
        if depth is None:
            depth = 2 if path.is_object else 1
        if path.is_object:
            entries = [DiscoverEntry(path)]
            if depth > 0:
                for iid in obj.list_instances():
                    entries += self._discover_instance(obj, path.child(iid), depth - 1)
            return entries
        self._instance(obj, path, Access.NONE, server_id)
        if path.is_instance:
            return self._discover_instance(obj, path, depth)
        if path.is_resource_instance:
            raise MethodNotAllowedError("cannot discover a resource instance", path=path)
        self._present(obj, path)
        return self._discover_resource(obj, path, depth)

    # -- helpers ---------------------------------------------------------------------------

    def _target(self, path: Path, server_id: int | None) -> ObjectImplementation:
        if path.is_root:
            raise MethodNotAllowedError("not an operation on the root path", path=path)
        obj = self.object(path.ids[0])
        if server_id is not None and obj.object_id in BOOTSTRAP_ONLY:
            raise UnauthorizedError("only the bootstrap server may access this object", path=path)
        return obj

    def _instance(
        self, obj: ObjectImplementation, path: Path, needed: Access, server_id: int | None
    ) -> int:
        iid = path.ids[1]
        if iid not in obj.list_instances():
            raise NotFoundError("no such instance", path=Path(path.ids[:2]))
        if needed not in self.rights(server_id, obj.object_id, iid):
            raise UnauthorizedError(f"no {needed.name} right", path=path)
        return iid

    @staticmethod
    def _model(obj: ObjectImplementation, path: Path) -> ResourceModel:
        resource = obj.model.resource(path.ids[2])
        if resource is None:
            raise NotFoundError("no such resource in the model", path=path)
        return resource

    def _present(self, obj: ObjectImplementation, path: Path) -> ResourceModel:
        resource = self._model(obj, path)
        if resource.id not in obj.list_resources(path.ids[1]):
            raise NotFoundError("resource not present", path=Path(path.ids[:3]))
        return resource

    def _read_instance(
        self, obj: ObjectImplementation, iid: int, server_id: int | None
    ) -> ObjectInstance:
        resources: dict[int, Resource] = {}
        for rid in obj.list_resources(iid):
            resource = obj.model.resource(rid)
            if resource is not None and _readable(resource, server_id):
                resources[rid] = self._read_resource(obj, iid, resource)
        return ObjectInstance(iid, resources)

    @staticmethod
    def _read_resource(obj: ObjectImplementation, iid: int, resource: ResourceModel) -> Resource:
        path = obj.path(iid, resource.id)
        value = obj.read(iid, resource.id)
        if isinstance(value, Mapping) != resource.multiple:
            raise InternalError("device value does not match the model's multiplicity", path=path)
        items = value if isinstance(value, Mapping) else {0: value}
        for ri, item in items.items():
            problem = value_problem(resource.type, item)
            if problem is not None:
                where = path.child(ri) if resource.multiple else path
                raise InternalError(f"device value: {problem}", path=where)
        if isinstance(value, Mapping):
            return MultipleResource(resource.id, dict(sorted(value.items())))
        return SingleResource(resource.id, value)

    def _write_instance(
        self,
        obj: ObjectImplementation,
        path: Path,
        node: ObjectInstance,
        replace: bool,
        server_id: int | None,
    ) -> None:
        values = self._checked_instance(obj, path, node, server_id)
        if server_id is None and node.id not in obj.list_instances():
            obj.create(node.id, values)
            self.emit(Changed(path))
            return
        iid = self._instance(obj, path, Access.WRITE, server_id)
        if replace:
            obj.reset_instance(iid)
        for rid, value in values.items():
            obj.write(iid, rid, value, replace=replace)
            self.emit(Changed(path.child(rid)))

    def _checked_instance(
        self,
        obj: ObjectImplementation,
        path: Path,
        node: ObjectInstance,
        server_id: int | None,
        *,
        creating: bool = False,
    ) -> dict[int, ResourceValue]:
        return {
            rid: self._checked(obj, path.child(rid), resource, server_id, creating=creating)
            for rid, resource in node.resources.items()
        }

    def _checked(
        self,
        obj: ObjectImplementation,
        path: Path,
        node: Resource,
        server_id: int | None,
        *,
        creating: bool = False,
    ) -> ResourceValue:
        """The value of a resource to write, checked against the model.  A Create may set
        read-only resources too: operation rights apply to Write, not to the initial values of
        a new instance (OMA's reading, as in Wakaama and Leshan); executable ones have none."""
        resource = self._model(obj, path)
        ops = resource.operations
        if ops.executable or (server_id is not None and not ops.writable and not creating):
            raise MethodNotAllowedError("resource is not writable", path=path)
        if isinstance(node, MultipleResource) != resource.multiple:
            kind = "multiple" if resource.multiple else "single"
            raise BadRequestError(f"resource is {kind}", path=path)
        items = node.instances if isinstance(node, MultipleResource) else {0: node.value}
        for ri, item in items.items():
            where = path.child(ri) if resource.multiple else path
            problem = value_problem(resource.type, item) or range_problem(
                resource.type, resource.range, item
            )
            if problem is not None:
                raise BadRequestError(problem, path=where)
        return dict(items) if isinstance(node, MultipleResource) else node.value

    def _discover_instance(
        self, obj: ObjectImplementation, path: Path, depth: int
    ) -> list[DiscoverEntry]:
        entries = [DiscoverEntry(path)]
        if depth > 0:
            for rid in obj.list_resources(path.ids[1]):
                if obj.model.resource(rid) is not None:
                    entries += self._discover_resource(obj, path.child(rid), depth - 1)
        return entries

    def _discover_resource(
        self, obj: ObjectImplementation, path: Path, depth: int
    ) -> list[DiscoverEntry]:
        resource = self._model(obj, path)
        if not resource.multiple or not _readable(resource, None):
            return [DiscoverEntry(path)]
        node = self._read_resource(obj, path.ids[1], resource)
        assert isinstance(node, MultipleResource)
        entries = [DiscoverEntry(path, dim=len(node.instances))]
        if depth > 0:
            entries += [DiscoverEntry(path.child(ri)) for ri in node.instances]
        return entries


def _readable(resource: ResourceModel, server_id: int | None) -> bool:
    ops = resource.operations
    return not ops.executable and (server_id is None or ops.readable)


__all__ = [
    "ACCESS_CONTROL",
    "BOOTSTRAP_ONLY",
    "OSCORE",
    "SECURITY",
    "SERVER",
    "DiscoverEntry",
    "ObjectTree",
]
