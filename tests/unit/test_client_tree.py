"""ObjectTree: dispatch by path, Core §5.4 semantics and the §7.3 access rules."""

from __future__ import annotations

import pytest

from lwm2m.client.objects import (
    BadRequestError,
    Changed,
    DeviceEvent,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    ObjectError,
    ObjectImplementation,
    ResourceValue,
    SimpleObject,
    UnauthorizedError,
)
from lwm2m.client.standard.access_control import OBJECT_LEVEL, Access, AccessControlObject
from lwm2m.client.standard.device import DeviceObject
from lwm2m.client.standard.security import security_instance
from lwm2m.client.standard.server import ServerObject
from lwm2m.client.tree import DiscoverEntry, ObjectTree
from lwm2m.coap.codes import Code
from lwm2m.model import (
    MultipleResource,
    ObjectInstance,
    ObjectModel,
    ObjectNode,
    Path,
    ResourceInstance,
    SingleResource,
)
from lwm2m.model.builtin import builtin_models

MODELS = builtin_models()
P = Path.parse
NOW = 1_700_000_000.0


def _model(object_id: int) -> ObjectModel:
    model = MODELS.get(object_id)
    assert model is not None
    return model


def _server(ssid: int) -> dict[int, ResourceValue]:
    return {0: ssid, 1: 86400, 2: 1, 3: 300, 6: True, 7: "U"}


def make_tree(*ssids: int) -> ObjectTree:
    ssids = ssids or (1,)
    return ObjectTree(
        [
            SimpleObject(
                _model(0),
                {
                    i: security_instance(f"coap://10.0.0.{i}", bootstrap=False, short_server_id=s)
                    for i, s in enumerate(ssids)
                },
            ),
            ServerObject(_model(1), {i: _server(s) for i, s in enumerate(ssids)}),
            AccessControlObject(_model(2)),
            DeviceObject(
                _model(3),
                {0: "ACME", 1: "M1", 3: "1.0", 9: 80, 16: "UQ", 14: "+01:00"},
                now=NOW,
            ),
            SimpleObject(_model(11), {0: {0: "p0", 1: "apn0", 4: 3, 10: {0: 0, 1: 1}}}),
            SimpleObject(_model(21)),
        ]
    )


def _code(exc: pytest.ExceptionInfo[ObjectError]) -> str:
    return exc.value.code.dotted


# -- read ---------------------------------------------------------------------------------------


def test_read_at_every_level() -> None:
    tree = make_tree()
    assert tree.read(P("/3/0/0"), server_id=1) == SingleResource(0, "ACME")
    assert tree.read(P("/11/0/10"), server_id=1) == MultipleResource(10, {0: 0, 1: 1})
    assert tree.read(P("/11/0/10/1"), server_id=1) == ResourceInstance(1, 1)
    instance = tree.read(P("/11/0"), server_id=1)
    assert isinstance(instance, ObjectInstance)
    assert set(instance.resources) == {0, 1, 4, 10}
    obj = tree.read(P("/11"), server_id=1)
    assert isinstance(obj, ObjectNode)
    assert list(obj.instances) == [0]
    assert obj.instances[0] == instance


def test_instance_read_leaves_out_executables() -> None:
    tree = make_tree()
    device = tree.read(P("/3/0"), server_id=1)
    assert isinstance(device, ObjectInstance)
    assert 4 not in device.resources  # Reboot
    assert device.resources[11] == MultipleResource(11, {0: 0})
    assert device.resources[13] == SingleResource(13, int(NOW))


def test_reading_an_executable_or_write_only_resource_is_4_05() -> None:
    tree = make_tree()
    tree.add(_firmware())
    for path in ("/3/0/4", "/5/0/0"):
        with pytest.raises(MethodNotAllowedError):
            tree.read(P(path), server_id=1)


def _firmware() -> ObjectImplementation:
    from lwm2m.client.standard.firmware import FirmwareUpdateObject

    return FirmwareUpdateObject(_model(5))


@pytest.mark.parametrize(
    "path", ["/4", "/3/1", "/3/0/22", "/3/0/999", "/11/0/10/5", "/3/0/0/0", "/11/1/0"]
)
def test_absent_things_are_4_04(path: str) -> None:
    with pytest.raises(NotFoundError):
        make_tree().read(P(path), server_id=1)


def test_root_is_not_a_target() -> None:
    with pytest.raises(MethodNotAllowedError):
        make_tree().read(P("/"), server_id=1)


@pytest.mark.parametrize("path", ["/0", "/0/0", "/0/0/0", "/21"])
def test_security_and_oscore_are_4_01_for_servers(path: str) -> None:
    tree = make_tree()
    with pytest.raises(UnauthorizedError) as excinfo:
        tree.read(P(path), server_id=1)
    assert _code(excinfo) == "4.01"
    with pytest.raises(UnauthorizedError):
        tree.discover(P(path), server_id=1)
    with pytest.raises(UnauthorizedError):
        tree.write(P("/0/0/0"), SingleResource(0, "coap://x"), replace=True, server_id=1)
    with pytest.raises(UnauthorizedError):
        tree.delete(P("/0/0"), server_id=1)


def test_bootstrap_reaches_security_and_writes_read_only_resources() -> None:
    tree = make_tree()
    security = tree.read(P("/0/0"), server_id=None)
    assert isinstance(security, ObjectInstance)
    assert security.resources[0] == SingleResource(0, "coap://10.0.0.0")
    tree.write(P("/1/0/0"), SingleResource(0, 7), replace=True, server_id=None)
    assert tree.server_ids() == [7]


def test_bootstrap_write_creates_missing_instances() -> None:
    tree = make_tree()
    node = ObjectNode(
        0, {5: ObjectInstance(5, {0: SingleResource(0, "coap://b"), 1: SingleResource(1, True)})}
    )
    tree.write(P("/0"), node, replace=True, server_id=None)
    assert tree.read(P("/0/5/1"), server_id=None) == SingleResource(1, True)
    with pytest.raises(MethodNotAllowedError):
        tree.write(P("/11"), ObjectNode(11, {}), replace=True, server_id=1)


def test_device_values_that_break_the_model_are_5_00() -> None:
    tree = make_tree()
    tree.add(SimpleObject(_model(6), {0: {0: 1.5}}, readers={1: lambda iid: "east"}))
    with pytest.raises(InternalError) as excinfo:
        tree.read(P("/6/0/1"), server_id=1)
    assert _code(excinfo) == "5.00"
    assert excinfo.value.path == P("/6/0/1")


# -- write --------------------------------------------------------------------------------------


def test_write_resource_and_resource_instance() -> None:
    tree = make_tree()
    tree.write(P("/1/0/1"), SingleResource(1, 600), replace=True, server_id=1)
    assert tree.read(P("/1/0/1"), server_id=1) == SingleResource(1, 600)
    tree.write(P("/11/0/8/3"), ResourceInstance(3, "26201"), replace=True, server_id=1)
    assert tree.read(P("/11/0/8"), server_id=1) == MultipleResource(8, {3: "26201"})


def test_replace_vs_partial_update_of_a_multiple_resource() -> None:
    tree = make_tree()
    tree.write(P("/11/0/8"), MultipleResource(8, {0: "a", 1: "b"}), replace=True, server_id=1)
    tree.write(P("/11/0/8"), MultipleResource(8, {1: "B", 2: "c"}), replace=False, server_id=1)
    assert tree.read(P("/11/0/8"), server_id=1) == MultipleResource(8, {0: "a", 1: "B", 2: "c"})
    tree.write(P("/11/0/8"), MultipleResource(8, {9: "z"}), replace=True, server_id=1)
    assert tree.read(P("/11/0/8"), server_id=1) == MultipleResource(8, {9: "z"})


def test_replace_vs_partial_update_of_an_instance() -> None:
    tree = make_tree()
    tree.write(P("/11/0/5"), SingleResource(5, "user"), replace=True, server_id=1)
    partial = ObjectInstance(0, {1: SingleResource(1, "apn1")})
    tree.write(P("/11/0"), partial, replace=False, server_id=1)
    assert tree.read(P("/11/0/5"), server_id=1) == SingleResource(5, "user")
    replace = ObjectInstance(0, {0: SingleResource(0, "p1"), 4: SingleResource(4, 0)})
    tree.write(P("/11/0"), replace, replace=True, server_id=1)
    instance = tree.read(P("/11/0"), server_id=1)
    assert isinstance(instance, ObjectInstance)
    # optional writable resources the payload leaves out are gone; read-only ones stay
    assert set(instance.resources) == {0, 4, 10}
    assert instance.resources[0] == SingleResource(0, "p1")


def test_writing_read_only_or_executable_resources_is_4_05() -> None:
    tree = make_tree()
    with pytest.raises(MethodNotAllowedError):
        tree.write(P("/3/0/0"), SingleResource(0, "X"), replace=True, server_id=1)
    with pytest.raises(MethodNotAllowedError):
        tree.write(P("/3/0/4"), SingleResource(4, ""), replace=True, server_id=1)
    node = ObjectInstance(0, {1: SingleResource(1, "apn"), 10: MultipleResource(10, {0: 1})})
    with pytest.raises(MethodNotAllowedError):
        tree.write(P("/11/0"), node, replace=False, server_id=1)
    # nothing was written: the whole payload is checked first
    assert tree.read(P("/11/0/1"), server_id=1) == SingleResource(1, "apn0")


@pytest.mark.parametrize(
    ("path", "node", "where"),
    [
        ("/1/0/1", SingleResource(1, "long"), "/1/0/1"),
        ("/1/0/6", SingleResource(6, 1), "/1/0/6"),
        ("/3/0/13", SingleResource(13, 1.5), "/3/0/13"),
        ("/11/0/8", SingleResource(8, "x"), "/11/0/8"),
        ("/11/0/5", MultipleResource(5, {0: "x"}), "/11/0/5"),
        ("/11/0/8", MultipleResource(8, {4: 4}), "/11/0/8/4"),
        ("/11/0/27", SingleResource(27, 9), "/11/0/27"),
        ("/11/0/5", SingleResource(6, "x"), "/11/0/5"),
        ("/11/0/5", ObjectInstance(0, {}), "/11/0/5"),
        ("/11/0", ObjectInstance(1, {}), "/11/0"),
        ("/11/0/8/1", SingleResource(8, "x"), "/11/0/8/1"),
        ("/3/0/14", SingleResource(14, "one hour"), "/3/0/14"),
    ],
)
def test_bad_values_are_4_00_naming_the_path(path: str, node: object, where: str) -> None:
    tree = make_tree()
    with pytest.raises(BadRequestError) as excinfo:
        tree.write(P(path), node, replace=True, server_id=1)  # type: ignore[arg-type]
    assert _code(excinfo) == "4.00"
    assert excinfo.value.path == P(where)
    assert where in str(excinfo.value)


def test_writing_a_resource_instance_of_a_single_resource_is_4_04() -> None:
    with pytest.raises(NotFoundError):
        make_tree().write(P("/1/0/1/0"), ResourceInstance(0, 5), replace=True, server_id=1)


def test_writes_report_changes() -> None:
    tree = make_tree()
    events: list[DeviceEvent] = []
    tree.subscribe(events.append)
    tree.write(P("/1/0/1"), SingleResource(1, 60), replace=True, server_id=1)
    tree.write(
        P("/11/0"), ObjectInstance(0, {1: SingleResource(1, "a")}), replace=False, server_id=1
    )
    tree.write(P("/11/0/8/2"), ResourceInstance(2, "x"), replace=False, server_id=1)
    assert events == [Changed(P("/1/0/1")), Changed(P("/11/0/1")), Changed(P("/11/0/8/2"))]


# -- execute ------------------------------------------------------------------------------------


def test_execute_dispatches_and_checks() -> None:
    tree = make_tree()
    events: list[DeviceEvent] = []
    tree.subscribe(events.append)
    tree.execute(P("/3/0/4"), server_id=1)
    assert type(events[-1]).__name__ == "Reboot"
    with pytest.raises(MethodNotAllowedError):
        tree.execute(P("/3/0/0"), server_id=1)
    with pytest.raises(MethodNotAllowedError):
        tree.execute(P("/3/0"), server_id=1)
    with pytest.raises(NotFoundError):
        tree.execute(P("/3/1/4"), server_id=1)
    with pytest.raises(BadRequestError) as excinfo:
        tree.execute(P("/3/0/4"), "bad", server_id=1)
    assert excinfo.value.path == P("/3/0/4")


def test_executing_an_absent_executable_is_4_04() -> None:
    tree = make_tree()
    tree.add(SimpleObject(_model(7), {0: {8: 0}}))
    with pytest.raises(NotFoundError):
        tree.execute(P("/7/0/6"), server_id=1)


# -- create and delete --------------------------------------------------------------------------


def test_create_and_delete() -> None:
    tree = make_tree()
    events: list[DeviceEvent] = []
    tree.subscribe(events.append)
    iid = tree.new_instance_id(11)
    assert iid == 1
    node = ObjectInstance(iid, {0: SingleResource(0, "p1"), 4: SingleResource(4, 3)})
    assert tree.create(P("/11"), node, server_id=1) == [1]
    assert tree.read(P("/11/1/0"), server_id=1) == SingleResource(0, "p1")
    tree.delete(P("/11/1"), server_id=1)
    assert 1 not in tree.object(11).list_instances()
    assert Changed(P("/11/1")) in events
    assert events[-1] == Changed(P("/11/1"))


def test_create_several_instances_from_an_object_node() -> None:
    tree = make_tree()
    node = ObjectNode(
        11,
        {
            3: ObjectInstance(3, {0: SingleResource(0, "p3")}),
            4: ObjectInstance(4, {0: SingleResource(0, "p4")}),
        },
    )
    assert tree.create(P("/11"), node, server_id=1) == [3, 4]


@pytest.mark.parametrize(
    ("node", "error"),
    [
        (ObjectInstance(0, {0: SingleResource(0, "dup")}), BadRequestError),
        (ObjectInstance(2, {0: SingleResource(0, 5)}), BadRequestError),
        (ObjectNode(11, {}), BadRequestError),
        (ObjectNode(12, {1: ObjectInstance(1, {})}), BadRequestError),
    ],
)
def test_create_rejects(node: ObjectInstance | ObjectNode, error: type[ObjectError]) -> None:
    tree = make_tree()
    with pytest.raises(error):
        tree.create(P("/11"), node, server_id=1)
    assert tree.object(11).list_instances() == [0]


def test_create_sets_read_only_resources_write_does_not() -> None:
    """Operation rights govern Write; a Create gives a new instance its initial values, the
    read-only ones included (OMA's reading; Wakaama and Leshan do the same)."""
    tree = make_tree()
    node = ObjectInstance(2, {0: SingleResource(0, "p2"), 10: MultipleResource(10, {0: 1})})
    assert tree.create(P("/11"), node, server_id=1) == [2]
    assert tree.object(11).read(2, 10) == {0: 1}
    with pytest.raises(MethodNotAllowedError):
        tree.write(
            P("/11/2"),
            ObjectInstance(2, {10: MultipleResource(10, {0: 2})}),
            replace=False,
            server_id=1,
        )


def test_create_and_delete_only_where_the_object_allows() -> None:
    tree = make_tree()
    with pytest.raises(MethodNotAllowedError):
        tree.create(P("/3"), ObjectInstance(1, {}), server_id=1)
    with pytest.raises(MethodNotAllowedError):
        tree.create(P("/11/0"), ObjectInstance(1, {}), server_id=1)
    with pytest.raises(MethodNotAllowedError):
        tree.delete(P("/3/0"), server_id=1)
    with pytest.raises(MethodNotAllowedError):
        tree.delete(P("/11"), server_id=1)
    with pytest.raises(NotFoundError):
        tree.delete(P("/11/7"), server_id=1)


# -- discover and register ----------------------------------------------------------------------


def test_discover_levels_and_dim() -> None:
    tree = make_tree()
    links = [str(entry) for entry in tree.discover(P("/11"), server_id=1)]
    assert links == ["</11>", "</11/0>", "</11/0/0>", "</11/0/1>", "</11/0/4>", "</11/0/10>;dim=2"]
    assert [str(e) for e in tree.discover(P("/11"), server_id=1, depth=0)] == ["</11>"]
    assert [str(e) for e in tree.discover(P("/11"), server_id=1, depth=1)] == ["</11>", "</11/0>"]
    assert [str(e) for e in tree.discover(P("/11/0/10"), server_id=1)] == [
        "</11/0/10>;dim=2",
        "</11/0/10/0>",
        "</11/0/10/1>",
    ]
    assert [str(e) for e in tree.discover(P("/11/0/10"), server_id=1, depth=0)] == [
        "</11/0/10>;dim=2"
    ]
    device = [str(e) for e in tree.discover(P("/3/0"), server_id=1)]
    assert "</3/0/4>" in device  # executables are listed
    assert "</3/0/11>;dim=1" in device


def test_discover_entries_carry_attributes() -> None:
    entry = DiscoverEntry(P("/3/0/9"), attributes={"pmin": "10", "gt": "50"})
    assert str(entry) == "</3/0/9>;pmin=10;gt=50"


def test_discover_absent_paths() -> None:
    tree = make_tree()
    for path in ("/4", "/3/1", "/3/0/22"):
        with pytest.raises(NotFoundError):
            tree.discover(P(path), server_id=1)
    with pytest.raises(MethodNotAllowedError):
        tree.discover(P("/11/0/10/0"), server_id=1)


def test_object_links_for_register() -> None:
    tree = make_tree()
    tree.add(_firmware())
    assert tree.object_links() == (
        "</1>;ver=1.1,</1/0>,</2>,</3>;ver=1.1,</3/0>,</5/0>,</11>;ver=1.1,</11/0>"
    )


def test_tree_composition() -> None:
    tree = make_tree()
    with pytest.raises(ValueError, match="already"):
        tree.add(SimpleObject(_model(3)))
    assert 3 in tree and 4 not in tree
    assert [obj.object_id for obj in tree] == [0, 1, 2, 3, 11, 21]
    assert tree.models.get(11) is _model(11)
    with pytest.raises(NotFoundError):
        tree.object(4)


# -- access control -----------------------------------------------------------------------------


def _shared_tree() -> tuple[ObjectTree, AccessControlObject]:
    """Two servers: 1 owns /11/0 and grants 2 read only; 2 may create APN profiles."""
    tree = make_tree(1, 2)
    acl = tree.object(2)
    assert isinstance(acl, AccessControlObject)
    acl.grant(1, 0, owner=1)
    acl.grant(1, 1, owner=2)
    acl.grant(3, 0, owner=1, acl={0: Access.READ})
    acl.grant(11, 0, owner=1, acl={2: Access.READ})
    acl.grant(11, OBJECT_LEVEL, owner=65535, acl={2: Access.CREATE})
    return tree, acl


def test_single_server_needs_no_access_control() -> None:
    tree = make_tree()
    assert tree.rights(1, 11, 0) == Access.FULL | Access.CREATE


def test_acl_entry_owner_and_default() -> None:
    tree, _ = _shared_tree()
    assert tree.rights(2, 11, 0) == Access.READ  # its own entry
    assert tree.rights(1, 11, 0) == Access.FULL  # owner without entry
    assert tree.rights(2, 3, 0) == Access.READ  # default entry
    assert tree.rights(2, 1, 0) == Access.NONE  # not its Server instance
    assert tree.rights(2, 1, 1) == Access.FULL
    assert tree.rights(1, 11, 9) == Access.NONE  # no AC instance at all
    assert tree.rights(None, 11, 0) == Access.FULL | Access.CREATE


def test_acl_enforcement_with_two_servers() -> None:
    tree, _ = _shared_tree()
    assert tree.read(P("/11/0/0"), server_id=2) == SingleResource(0, "p0")
    with pytest.raises(UnauthorizedError):
        tree.write(P("/11/0/1"), SingleResource(1, "x"), replace=True, server_id=2)
    with pytest.raises(UnauthorizedError):
        tree.delete(P("/11/0"), server_id=2)
    with pytest.raises(UnauthorizedError):
        tree.execute(P("/3/0/4"), server_id=2)
    with pytest.raises(UnauthorizedError):
        tree.read(P("/1/0"), server_id=2)
    servers = tree.read(P("/1"), server_id=2)
    assert isinstance(servers, ObjectNode)
    assert list(servers.instances) == [1]  # only what it may read
    tree.execute(P("/3/0/4"), server_id=1)  # the owner may
    # discover needs no right
    assert tree.discover(P("/1/0"), server_id=2)[0].path == P("/1/0")


def test_create_right_and_the_new_instance_owner() -> None:
    tree, acl = _shared_tree()
    with pytest.raises(UnauthorizedError):
        tree.create(P("/11"), ObjectInstance(5, {0: SingleResource(0, "x")}), server_id=1)
    tree.create(P("/11"), ObjectInstance(5, {0: SingleResource(0, "x")}), server_id=2)
    ac_iid = acl.find(11, 5)
    assert ac_iid is not None
    assert acl.owner(ac_iid) == 2
    assert tree.rights(2, 11, 5) == Access.FULL
    assert tree.rights(1, 11, 5) == Access.NONE
    tree.delete(P("/11/5"), server_id=2)
    assert acl.find(11, 5) is None


def test_access_control_instances_are_managed_by_their_owner() -> None:
    tree, acl = _shared_tree()
    ac_iid = acl.find(11, 0)
    assert ac_iid is not None
    acl_path = P(f"/2/{ac_iid}/2")
    assert tree.read(acl_path, server_id=2) == MultipleResource(2, {2: 1})
    with pytest.raises(UnauthorizedError):
        tree.write(acl_path, MultipleResource(2, {2: 3}), replace=True, server_id=2)
    tree.write(acl_path, MultipleResource(2, {2: 3}), replace=True, server_id=1)
    assert tree.rights(2, 11, 0) == Access.READ | Access.WRITE
    with pytest.raises(BadRequestError):  # ACL values are 0..31
        tree.write(acl_path, MultipleResource(2, {2: 64}), replace=True, server_id=1)
    with pytest.raises(UnauthorizedError):
        tree.create(P("/2"), ObjectInstance(50, {}), server_id=1)
    with pytest.raises(UnauthorizedError):
        tree.delete(P(f"/2/{ac_iid}"), server_id=1)


def test_error_codes_are_coap_codes() -> None:
    assert NotFoundError("x").code is Code.NOT_FOUND
    assert UnauthorizedError("x").code is Code.UNAUTHORIZED
    assert BadRequestError("x").code is Code.BAD_REQUEST
    assert InternalError("x").code is Code.INTERNAL_SERVER_ERROR
