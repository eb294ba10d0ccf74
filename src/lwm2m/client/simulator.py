"""A simulated device: values that move plausibly, as functions of time and a seeded RNG.

Radio quality, battery, position and the serving cell evolve between :meth:`DeviceSimulator.tick`
calls; the same seed and the same tick times give the same values.  Fluctuating quantities
are Ornstein-Uhlenbeck processes sampled exactly over the elapsed time, so they stay near a
mean within 3GPP ranges however far apart the ticks are.  Changes reach observers through the
objects' change notices.  Firmware updates are not simulated here: a
:class:`~lwm2m.client.firmware.updater.FirmwareUpdater` carries them out for real.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection
from dataclasses import dataclass

from lwm2m.client.objects import ResourceValue, SimpleObject
from lwm2m.client.standard import device as dev
from lwm2m.client.standard.device import DeviceObject
from lwm2m.client.standard.statistics import ConnectivityStatisticsObject
from lwm2m.client.tree import ObjectTree

METERS_PER_DEGREE = 111_320.0
TA_METERS = 78.12
"""Distance of one LTE timing-advance step (16 Ts of round trip)."""
CELL_CHANGE_MEAN = 6 * 3600.0
BATTERY_DRAIN_PER_DAY = 0.5
LOW_BATTERY = 20
CRITICAL_BATTERY = 10
REPORT_INTERVAL_MEAN = 900.0
UPLINK_BYTES = 160
DOWNLINK_BYTES = 60


@dataclass(slots=True)
class _Walk:
    """A mean-reverting random walk clipped to ``[low, high]``."""

    value: float
    mean: float
    spread: float
    """Stationary standard deviation."""
    reversion: float
    """Seconds over which a deviation decays by 1/e."""
    low: float
    high: float

    def step(self, rng: random.Random, dt: float) -> float:
        decay = math.exp(-dt / self.reversion)
        noise = self.spread * math.sqrt(1 - decay * decay) * rng.gauss(0.0, 1.0)
        self.value = min(
            max(self.mean + (self.value - self.mean) * decay + noise, self.low), self.high
        )
        return self.value


class DeviceSimulator:
    """Drives the objects of a :func:`~lwm2m.client.profile.telekom_device` tree.

    Objects the tree lacks are left alone, and so are ``measured`` ones (their values come from
    real hardware, e.g. a modem); starting points are the values the tree holds.
    """

    def __init__(
        self, tree: ObjectTree, *, seed: int, now: float, measured: Collection[int] = ()
    ) -> None:
        self._tree = tree
        self._measured = frozenset(measured)
        self._rng = random.Random(seed)
        self._last = now
        self._start = now
        rsrp = self._int(4, 2, -100)
        self._rsrp = _Walk(rsrp, rsrp, 6.0, 600.0, -140.0, -44.0)
        rsrq = self._int(4, 3, -10)
        self._rsrq = _Walk(rsrq, rsrq, 2.5, 600.0, -19.5, -3.0)
        snr = self._int(4, 11, 10)
        self._snr = _Walk(snr, snr, 5.0, 600.0, -10.0, 30.0)
        self._home = (self._float(6, 0, 50.7374), self._float(6, 1, 7.0982))
        self._north = _Walk(0.0, 0.0, 30.0, 3600.0, -500.0, 500.0)
        self._east = _Walk(0.0, 0.0, 30.0, 3600.0, -500.0, 500.0)
        self._battery = float(self._int(3, dev.BATTERY_LEVEL, 100))
        self._cell_distance = self._int(3372, 2, 10) * TA_METERS

    def tick(self, now: float) -> None:
        """Advance to ``now``: update every simulated value and report what changed."""
        dt = now - self._last
        if dt < 0:
            raise ValueError(f"time went backwards: {now} < {self._last}")
        self._last = now
        device = self._object(3)
        if isinstance(device, DeviceObject):
            device.set_now(now)
        if dt > 0:
            if self._rng.random() < 1 - math.exp(-dt / CELL_CHANGE_MEAN):
                self._change_cell()
            self._radio(dt)
            self._power(dt)
            self._position(dt, now)
            self._traffic(dt, now)
        self._frames(now)

    # -- the quantities ------------------------------------------------------------------------

    def _radio(self, dt: float) -> None:
        rsrp = round(self._rsrp.step(self._rng, dt))
        rsrq = round(self._rsrq.step(self._rng, dt))
        snr = round(self._snr.step(self._rng, dt))
        self._set(4, 2, rsrp)
        self._set(4, 3, rsrq)
        self._set(4, 11, snr)
        self._set(3370, 6035, rsrp)
        self._set(3370, 6036, rsrq)
        neighbours = self._object(3371)
        if neighbours is not None:
            for iid in neighbours.list_instances():
                offset = self._rng.randint(3, 15)
                self._set(3371, 6035, max(rsrp - offset, -140), iid)
                self._set(3371, 6036, max(rsrq - self._rng.randint(0, 4), -20), iid)

    def _power(self, dt: float) -> None:
        device = self._object(3)
        if not isinstance(device, DeviceObject) or dev.BATTERY_LEVEL not in device.list_resources(
            0
        ):
            return
        self._battery = max(self._battery - BATTERY_DRAIN_PER_DAY * dt / 86400, 0.0)
        level = math.ceil(self._battery)
        device.set(0, dev.BATTERY_LEVEL, level)
        device.set(0, dev.POWER_SOURCE_VOLTAGE, {0: 3000 + 6 * level})
        low = level < LOW_BATTERY
        status = dev.BatteryStatus.LOW if low else dev.BatteryStatus.NORMAL
        device.set(0, dev.BATTERY_STATUS, status.value)
        if level < CRITICAL_BATTERY:
            device.raise_error(dev.ErrorCode.LOW_BATTERY)
        else:
            device.clear_error(dev.ErrorCode.LOW_BATTERY)

    def _position(self, dt: float, now: float) -> None:
        if self._object(6) is None:
            return
        before = (self._north.value, self._east.value)
        north = self._north.step(self._rng, dt)
        east = self._east.step(self._rng, dt)
        lat = self._home[0] + north / METERS_PER_DEGREE
        lon = self._home[1] + east / (METERS_PER_DEGREE * math.cos(math.radians(self._home[0])))
        moved = math.hypot(north - before[0], east - before[1])
        self._set(6, 0, round(lat, 6))
        self._set(6, 1, round(lon, 6))
        self._set(6, 5, int(now))
        self._set(6, 6, round(moved / dt, 2))

    def _change_cell(self) -> None:
        cell_id = self._rng.randrange(1 << 28)
        pci = self._rng.randrange(504)
        self._cell_distance = self._rng.uniform(200.0, 3000.0)
        self._rsrp.value = min(self._rsrp.value + self._rng.uniform(0.0, 8.0), -44.0)
        self._set(4, 8, cell_id)
        self._set(3353, 6033, cell_id)
        self._set(3370, 6034, pci)
        self._set(3372, 2, round(self._cell_distance / TA_METERS))

    def _traffic(self, dt: float, now: float) -> None:
        stats = self._object(7)
        if not isinstance(stats, ConnectivityStatisticsObject):
            return
        stats.advance(now)
        expected = dt / REPORT_INTERVAL_MEAN
        reports = int(expected) + (self._rng.random() < expected - int(expected))
        for _ in range(reports):
            stats.record(now, sent=UPLINK_BYTES + self._rng.randrange(40))
            stats.record(now, received=DOWNLINK_BYTES)

    def _frames(self, now: float) -> None:
        frame, subframe = int(now * 100) % 1024, int(now * 1000) % 10
        for oid in (3370, 3372):
            self._set(oid, 6037, frame)
            self._set(oid, 6038, subframe)

    # -- plumbing ------------------------------------------------------------------------------

    def _object(self, object_id: int) -> SimpleObject | None:
        if object_id in self._measured or object_id not in self._tree:
            return None
        obj = self._tree.object(object_id)
        return obj if isinstance(obj, SimpleObject) else None

    def _set(
        self, object_id: int, resource_id: int, value: ResourceValue, instance_id: int = 0
    ) -> None:
        obj = self._object(object_id)
        if obj is not None and instance_id in obj.list_instances():
            obj.set(instance_id, resource_id, value)

    def _value(self, object_id: int, resource_id: int) -> ResourceValue | None:
        obj = self._object(object_id)
        if obj is None or 0 not in obj.list_instances():
            return None
        return obj.get(0, resource_id) if resource_id in obj.list_resources(0) else None

    def _int(self, object_id: int, resource_id: int, default: int) -> int:
        value = self._value(object_id, resource_id)
        return value if isinstance(value, int) else default

    def _float(self, object_id: int, resource_id: int, default: float) -> float:
        value = self._value(object_id, resource_id)
        return float(value) if isinstance(value, (int, float)) else default
