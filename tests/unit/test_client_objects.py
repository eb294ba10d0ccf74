"""SimpleObject and the handler API, with a hand-built model."""

from __future__ import annotations

import pytest

from lwm2m.client.objects import (
    BadRequestError,
    Changed,
    DeviceEvent,
    MethodNotAllowedError,
    NotFoundError,
    ObjectImplementation,
    SimpleObject,
    parse_execute_args,
)
from lwm2m.coap.codes import Code
from lwm2m.model import ObjectModel, Operations, Path, ResourceModel, ResourceType


def _resource(
    rid: int,
    ops: Operations,
    rtype: ResourceType = ResourceType.INTEGER,
    *,
    multiple: bool = False,
    mandatory: bool = False,
) -> ResourceModel:
    return ResourceModel(rid, f"r{rid}", ops, multiple, mandatory, rtype)


MODEL = ObjectModel(
    id=42,
    name="Test",
    multiple=True,
    mandatory=False,
    resources={
        0: _resource(0, Operations.R, ResourceType.STRING, mandatory=True),
        1: _resource(1, Operations.RW, mandatory=True),
        2: _resource(2, Operations.RW),
        3: _resource(3, Operations.RW, multiple=True),
        4: _resource(4, Operations.E),
        5: _resource(5, Operations.R, ResourceType.TIME),
    },
)


def _events(obj: ObjectImplementation) -> list[DeviceEvent]:
    events: list[DeviceEvent] = []
    obj.subscribe(events.append)
    return events


def test_read_single_and_multiple_values() -> None:
    obj = SimpleObject(MODEL, {0: {0: "a", 1: 5, 3: {0: 1, 7: 2}}})
    assert obj.list_instances() == [0]
    assert obj.list_resources(0) == [0, 1, 3]
    assert obj.read(0, 0) == "a"
    assert obj.read(0, 3) == {0: 1, 7: 2}


def test_absent_things_are_not_found_with_their_path() -> None:
    obj = SimpleObject(MODEL, {0: {1: 5}})
    with pytest.raises(NotFoundError) as excinfo:
        obj.read(1, 1)
    assert excinfo.value.path == Path.of(42, 1)
    assert excinfo.value.code is Code.NOT_FOUND
    with pytest.raises(NotFoundError) as excinfo:
        obj.read(0, 2)
    assert excinfo.value.path == Path.of(42, 0, 2)


def test_partial_write_merges_resource_instances_replace_drops_them() -> None:
    obj = SimpleObject(MODEL, {0: {3: {0: 1, 1: 2}}})
    obj.write(0, 3, {1: 20, 2: 30}, replace=False)
    assert obj.read(0, 3) == {0: 1, 1: 20, 2: 30}
    obj.write(0, 3, {5: 50}, replace=True)
    assert obj.read(0, 3) == {5: 50}


def test_reset_instance_clears_what_servers_wrote_but_keeps_mandatory_values() -> None:
    obj = SimpleObject(MODEL, {0: {0: "id", 1: 1, 2: 2, 3: {0: 1}}})
    obj.reset_instance(0)
    assert obj.list_resources(0) == [0, 1, 3]
    assert obj.read(0, 3) == {}


def test_unsupported_resources_cannot_be_written() -> None:
    obj = SimpleObject(MODEL, {0: {1: 1}}, supported={1})
    with pytest.raises(NotFoundError):
        obj.write(0, 2, 3, replace=False)


def test_readers_writers_and_executors_are_called() -> None:
    seen: list[tuple[int, object]] = []
    obj = SimpleObject(
        MODEL,
        {0: {1: 1}},
        readers={5: lambda iid: 1000 + iid},
        writers={2: lambda iid, value: seen.append((iid, value))},
        executors={4: lambda iid, args: seen.append((iid, args))},
    )
    assert obj.list_resources(0) == [1, 4, 5]
    assert obj.read(0, 5) == 1000
    obj.write(0, 2, 9, replace=True)
    obj.execute(0, 4, "0='x'")
    assert seen == [(0, 9), (0, "0='x'")]
    assert obj.read(0, 2) == 9


def test_callback_errors_name_the_resource() -> None:
    def refuse(iid: int, value: object) -> None:
        raise BadRequestError("no")

    obj = SimpleObject(MODEL, {0: {1: 1}}, writers={2: refuse})
    with pytest.raises(BadRequestError) as excinfo:
        obj.write(0, 2, 1, replace=False)
    assert excinfo.value.path == Path.of(42, 0, 2)
    assert str(excinfo.value) == "/42/0/2: no"


def test_executing_without_executor_is_not_found() -> None:
    obj = SimpleObject(MODEL, {0: {1: 1}})
    with pytest.raises(NotFoundError):
        obj.execute(0, 4, "")


def test_create_and_delete_instances() -> None:
    obj = SimpleObject(MODEL)
    obj.create(3, {1: 1})
    assert obj.list_instances() == [3]
    with pytest.raises(BadRequestError):
        obj.create(3, {1: 1})
    obj.delete(3)
    assert obj.list_instances() == []
    with pytest.raises(NotFoundError):
        obj.delete(3)


def test_objects_can_refuse_create_and_delete() -> None:
    obj = SimpleObject(MODEL, {0: {1: 1}}, creatable=False)
    with pytest.raises(MethodNotAllowedError):
        obj.create(1, {})
    with pytest.raises(MethodNotAllowedError):
        obj.delete(0)


def test_set_notifies_only_real_changes() -> None:
    obj = SimpleObject(MODEL, {0: {1: 1}})
    events = _events(obj)
    obj.set(0, 1, 1)
    obj.set(0, 1, 2)
    obj.set(0, 2, 7)
    obj.unset(0, 2)
    obj.unset(0, 2)
    path = Path.of(42, 0, 1)
    assert events == [Changed(path), Changed(Path.of(42, 0, 2)), Changed(Path.of(42, 0, 2))]


def test_unsubscribe_stops_events() -> None:
    obj = SimpleObject(MODEL, {0: {1: 1}})
    events: list[DeviceEvent] = []
    unsubscribe = obj.subscribe(events.append)
    unsubscribe()
    obj.set(0, 1, 3)
    assert events == []


@pytest.mark.parametrize(
    ("value", "rid"),
    [("text", 1), (True, 1), (1, 3), ({0: "x"}, 3), (1, 99)],
)
def test_device_code_storing_wrong_values_is_a_bug(value: object, rid: int) -> None:
    obj = SimpleObject(MODEL, {0: {1: 1}})
    with pytest.raises(ValueError, match="/42/x/"):
        obj.set(0, rid, value)  # type: ignore[arg-type]


def test_base_handlers_refuse_with_4_05() -> None:
    obj = ObjectImplementation(MODEL)
    for call in (
        lambda: obj.read(0, 0),
        lambda: obj.write(0, 1, 1, replace=False),
        lambda: obj.reset_instance(0),
        lambda: obj.execute(0, 4, ""),
        lambda: obj.create(0, {}),
        lambda: obj.delete(0),
    ):
        with pytest.raises(MethodNotAllowedError) as excinfo:
            call()
        assert excinfo.value.code is Code.METHOD_NOT_ALLOWED


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        ("", {}),
        ("0", {0: None}),
        ("0='U'", {0: "U"}),
        ("0='a,b',1", {0: "a,b", 1: None}),
        ("9=''", {9: ""}),
    ],
)
def test_parse_execute_args(args: str, parsed: dict[int, str | None]) -> None:
    assert parse_execute_args(args) == parsed


@pytest.mark.parametrize("args", ["x", "10", "0=U", "0='it''s'", "0,", "0,0", "0='ü'", "0 "])
def test_malformed_execute_args_are_bad_requests(args: str) -> None:
    with pytest.raises(BadRequestError):
        parse_execute_args(args)
