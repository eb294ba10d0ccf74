"""The standard objects with behaviour, driven through the tree as a server would."""

from __future__ import annotations

import pytest

from lwm2m.client.objects import (
    BadRequestError,
    DeviceEvent,
    SimpleObject,
)
from lwm2m.client.standard.devcap import DevCapObject
from lwm2m.client.standard.device import DeviceObject, ErrorCode, FactoryReset, Reboot
from lwm2m.client.standard.server import (
    BootstrapRequestTrigger,
    DisableServer,
    RegistrationUpdateTrigger,
    ServerObject,
)
from lwm2m.client.standard.statistics import ConnectivityStatisticsObject
from lwm2m.client.tree import ObjectTree
from lwm2m.model import (
    MultipleResource,
    ObjectInstance,
    ObjectModel,
    Path,
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


class Recorder:
    def __init__(self, tree: ObjectTree) -> None:
        self.events: list[DeviceEvent] = []
        tree.subscribe(self.events.append)

    def of(self, kind: type[DeviceEvent]) -> list[DeviceEvent]:
        return [event for event in self.events if isinstance(event, kind)]


# -- Server -------------------------------------------------------------------------------------


def _server_tree() -> ObjectTree:
    return ObjectTree(
        [
            ServerObject(
                _model(1),
                {
                    0: {0: 101, 1: 300, 6: True, 7: "U"},
                    1: {0: 102, 1: 300, 5: 60, 6: True, 7: "UQ"},
                },
            )
        ]
    )


def test_registration_update_trigger_with_and_without_transport() -> None:
    tree = _server_tree()
    seen = Recorder(tree)
    tree.execute(P("/1/0/8"), server_id=None)
    tree.execute(P("/1/1/8"), "0='T'", server_id=None)
    assert seen.events == [RegistrationUpdateTrigger(101), RegistrationUpdateTrigger(102, "T")]
    with pytest.raises(BadRequestError) as excinfo:
        tree.execute(P("/1/0/8"), "0='X'", server_id=None)
    assert excinfo.value.path == P("/1/0/8")


def test_bootstrap_request_trigger_and_disable() -> None:
    tree = _server_tree()
    seen = Recorder(tree)
    tree.execute(P("/1/0/9"), server_id=None)
    tree.execute(P("/1/0/4"), server_id=None)
    tree.execute(P("/1/1/4"), server_id=None)
    assert seen.events == [
        BootstrapRequestTrigger(101),
        DisableServer(101, 86400),
        DisableServer(102, 60),
    ]


@pytest.mark.parametrize("binding", ["U", "UQ", "N", "UN", "UQS", "T"])
def test_valid_bindings(binding: str) -> None:
    tree = _server_tree()
    tree.write(P("/1/0/7"), SingleResource(7, binding), replace=True, server_id=None)
    assert tree.read(P("/1/0/7"), server_id=None) == SingleResource(7, binding)


@pytest.mark.parametrize("binding", ["", "Q", "X", "UU", "UQQ"])
def test_invalid_bindings(binding: str) -> None:
    with pytest.raises(BadRequestError):
        _server_tree().write(P("/1/0/7"), SingleResource(7, binding), replace=True, server_id=1)


def test_preferred_transport_is_one_transport() -> None:
    tree = _server_tree()
    tree.write(P("/1/0/22"), SingleResource(22, "N"), replace=True, server_id=None)
    with pytest.raises(BadRequestError):
        tree.write(P("/1/0/22"), SingleResource(22, "UQ"), replace=True, server_id=None)


def test_server_lookup_by_short_server_id() -> None:
    obj = _server_tree().object(1)
    assert isinstance(obj, ServerObject)
    assert obj.instance_of(102) == 1
    assert obj.instance_of(7) is None


# -- Device -------------------------------------------------------------------------------------


def _device_tree() -> tuple[ObjectTree, DeviceObject]:
    device = DeviceObject(
        _model(3), {0: "ACME", 16: "UQ", 14: "+01:00", 15: "Europe/Berlin"}, now=NOW
    )
    return ObjectTree([device]), device


def test_reboot_and_factory_reset_are_events() -> None:
    tree, _ = _device_tree()
    seen = Recorder(tree)
    tree.execute(P("/3/0/4"), server_id=1)
    tree.execute(P("/3/0/5"), server_id=1)
    assert seen.events == [Reboot(), FactoryReset()]


def test_error_codes_follow_e4() -> None:
    tree, device = _device_tree()
    assert tree.read(P("/3/0/11"), server_id=1) == MultipleResource(11, {0: 0})
    device.raise_error(ErrorCode.LOW_BATTERY)
    device.raise_error(ErrorCode.LOW_SIGNAL)
    device.raise_error(ErrorCode.LOW_SIGNAL)
    assert tree.read(P("/3/0/11"), server_id=1) == MultipleResource(11, {0: 1, 1: 4})
    device.clear_error(ErrorCode.LOW_BATTERY)
    assert tree.read(P("/3/0/11"), server_id=1) == MultipleResource(11, {1: 4})
    assert device.error_codes == [4]
    device.raise_error(ErrorCode.GPS_FAILURE)
    tree.execute(P("/3/0/12"), server_id=1)
    assert device.error_codes == []
    assert tree.read(P("/3/0/11"), server_id=1) == MultipleResource(11, {0: 0})


def test_current_time_follows_the_clock_and_writes_shift_it() -> None:
    tree, device = _device_tree()
    assert tree.read(P("/3/0/13"), server_id=1) == SingleResource(13, int(NOW))
    device.set_now(NOW + 10)
    assert tree.read(P("/3/0/13"), server_id=1) == SingleResource(13, int(NOW) + 10)
    tree.write(P("/3/0/13"), SingleResource(13, 1000), replace=True, server_id=1)
    device.set_now(NOW + 70)
    assert tree.read(P("/3/0/13"), server_id=1) == SingleResource(13, 1060)


@pytest.mark.parametrize("offset", ["+01:00", "UTC+01:00", "-0530", "+02", "Z"])
def test_utc_offsets(offset: str) -> None:
    tree, _ = _device_tree()
    tree.write(P("/3/0/14"), SingleResource(14, offset), replace=True, server_id=1)


@pytest.mark.parametrize(("rid", "text"), [(14, "+1"), (14, "+25:00"), (15, "Europe Berlin")])
def test_bad_time_settings(rid: int, text: str) -> None:
    tree, _ = _device_tree()
    with pytest.raises(BadRequestError):
        tree.write(P(f"/3/0/{rid}"), SingleResource(rid, text), replace=True, server_id=1)


# -- Connectivity Statistics --------------------------------------------------------------------


def test_statistics_collect_between_start_and_stop() -> None:
    stats = ConnectivityStatisticsObject(_model(7))
    tree = ObjectTree([stats])
    stats.record(NOW, sent=5000)
    assert tree.read(P("/7/0/2"), server_id=1) == SingleResource(2, 0)
    tree.execute(P("/7/0/6"), server_id=1)
    stats.record(NOW, sent=3000)
    stats.record(NOW + 1, received=1000)
    assert tree.read(P("/7/0/2"), server_id=1) == SingleResource(2, 2)
    assert tree.read(P("/7/0/3"), server_id=1) == SingleResource(3, 0)
    assert tree.read(P("/7/0/4"), server_id=1) == SingleResource(4, 3000)
    assert tree.read(P("/7/0/5"), server_id=1) == SingleResource(5, 2000)
    tree.execute(P("/7/0/7"), server_id=1)
    stats.record(NOW + 2, sent=10_000)
    assert tree.read(P("/7/0/2"), server_id=1) == SingleResource(2, 2)  # Stop keeps counters
    tree.execute(P("/7/0/6"), server_id=1)
    assert tree.read(P("/7/0/2"), server_id=1) == SingleResource(2, 0)  # Start resets them


def test_statistics_collection_period_ends_collection() -> None:
    stats = ConnectivityStatisticsObject(_model(7), collection_period=60)
    tree = ObjectTree([stats])
    tree.execute(P("/7/0/6"), server_id=1)
    stats.advance(NOW)
    stats.record(NOW + 30, sent=2048)
    stats.record(NOW + 61, sent=2048)
    assert not stats.collecting
    assert tree.read(P("/7/0/2"), server_id=1) == SingleResource(2, 2)


# -- DevCapMgmt and storage-only objects --------------------------------------------------------


def test_devcap_enable_disable() -> None:
    devcap = DevCapObject(_model(15), {0: {0: "0;1", 1: 0, 4: True}})
    tree = ObjectTree([devcap])
    tree.execute(P("/15/0/6"), server_id=1)
    assert tree.read(P("/15/0/4"), server_id=1) == SingleResource(4, False)
    tree.execute(P("/15/0/5"), server_id=1)
    assert tree.read(P("/15/0/4"), server_id=1) == SingleResource(4, True)


def test_oscore_is_storage_for_the_bootstrap_server() -> None:
    tree = ObjectTree([SimpleObject(_model(21))])
    node = {0: SingleResource(0, "secret"), 1: SingleResource(1, "client")}
    tree.write(P("/21/0"), ObjectInstance(0, node), replace=True, server_id=None)
    assert tree.read(P("/21/0/0"), server_id=None) == SingleResource(0, "secret")
