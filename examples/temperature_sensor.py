"""A device of your own with lwm2m's client API: an IPSO temperature sensor (object 3303) beside
the Security, Server and Device objects every LwM2M client has.

Run a server and this device (from the project root):

    .venv/bin/lwm2m server --db :memory: --coaps-port 0 &
    .venv/bin/python examples/temperature_sensor.py --server coap://127.0.0.1:5683

then talk to it through the server's REST API (or its console at http://localhost:8080/):

    EP=urn:dev:temperature-1
    curl localhost:8080/api/clients/$EP/3303/0                      # the measurement
    curl -X POST localhost:8080/api/clients/$EP/3303/0/5700/observe  # then: curl -N .../api/events
    curl -X POST localhost:8080/api/clients/$EP/3303/0/5605/execute  # reset min/max
    curl -X POST localhost:8080/api/clients/$EP/3303 -d '{"values": {"/3303/1/5700": 21.5}}'

Objects are :class:`~lwm2m.client.SimpleObject` (stored values, optional callbacks) or your own
:class:`~lwm2m.client.ObjectImplementation` subclass; the object tree checks paths, access,
operations and value types against each object's model before calling them, so the code here
is only what the device does.  Models come from the OMA registry shipped with the package
(``default_models()``), or your own DDF files (``add_ddf_files``).  Ctrl-C de-registers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
from collections.abc import Callable

from lwm2m.client import ObjectTree, SimpleObject
from lwm2m.client.device import LwM2MClient
from lwm2m.client.standard import device, server
from lwm2m.client.standard.device import DeviceObject
from lwm2m.client.standard.security import security_instance
from lwm2m.client.standard.server import ServerObject
from lwm2m.model import ModelRegistry, ObjectModel, default_models

# Resource IDs of object 3303 (IPSO Temperature), as its DDF names them.
SENSOR_VALUE = 5700
SENSOR_UNITS = 5701
MIN_MEASURED = 5601
MAX_MEASURED = 5602
MIN_RANGE = 5603
MAX_RANGE = 5604
RESET_MIN_MAX = 5605


class Thermometer(SimpleObject):
    """Object 3303: instance 0 is the sensor on this device, refreshed by :meth:`measure`;
    servers may create and delete further instances (sensors they describe themselves)."""

    def __init__(self, model: ObjectModel, read_celsius: Callable[[], float]) -> None:
        self._read_celsius = read_celsius
        first = read_celsius()
        super().__init__(
            model,
            {
                0: {
                    SENSOR_VALUE: first,
                    SENSOR_UNITS: "Cel",
                    MIN_MEASURED: first,
                    MAX_MEASURED: first,
                    MIN_RANGE: -40.0,
                    MAX_RANGE: 85.0,
                }
            },
            executors={RESET_MIN_MAX: self._reset_min_max},
        )

    def measure(self) -> None:
        """Take a reading; ``set`` tells observing servers about what changed."""
        celsius = round(self._read_celsius(), 2)
        self.set(0, SENSOR_VALUE, celsius)
        self.set(0, MIN_MEASURED, min(celsius, _float(self.get(0, MIN_MEASURED))))
        self.set(0, MAX_MEASURED, max(celsius, _float(self.get(0, MAX_MEASURED))))

    def _reset_min_max(self, instance_id: int, args: str) -> None:
        current = self.get(instance_id, SENSOR_VALUE)
        self.set(instance_id, MIN_MEASURED, current)
        self.set(instance_id, MAX_MEASURED, current)


def _float(value: object) -> float:
    assert isinstance(value, float)
    return value


def temperature_device(
    endpoint: str,
    server_uri: str,
    read_celsius: Callable[[], float],
    *,
    lifetime: int = 300,
    models: ModelRegistry | None = None,
) -> tuple[ObjectTree, Thermometer, DeviceObject]:
    """The device's objects: one NoSec account at ``server_uri`` (Short Server ID 1)."""
    models = models or default_models()

    def model(object_id: int) -> ObjectModel:
        found = models.get(object_id)
        if found is None:
            raise ValueError(f"no model for object {object_id}")
        return found

    thermometer = Thermometer(model(3303), read_celsius)
    device_object = DeviceObject(
        model(3),
        {
            device.MANUFACTURER: "Example Corp",
            device.MODEL_NUMBER: "T-1",
            device.SERIAL_NUMBER: endpoint.rsplit(":", 1)[-1],
            device.FIRMWARE_VERSION: "1.0.0",
            device.SUPPORTED_BINDINGS: "U",
        },
        now=time.time(),
    )
    tree = ObjectTree(
        [
            SimpleObject(
                model(0), {0: security_instance(server_uri, bootstrap=False, short_server_id=1)}
            ),
            ServerObject(
                model(1),
                {
                    0: {
                        server.SHORT_SERVER_ID: 1,
                        server.LIFETIME: lifetime,
                        server.NOTIFICATION_STORING: True,
                        server.BINDING: "U",
                    }
                },
            ),
            device_object,
            thermometer,
        ]
    )
    return tree, thermometer, device_object


def simulated_celsius() -> float:
    """A room slowly warming and cooling around 21 °C (a real device reads its sensor)."""
    return 21.0 + 2.0 * math.sin(time.time() / 60.0)


async def run(endpoint: str, server_uri: str, period: float) -> None:
    tree, thermometer, device_object = temperature_device(endpoint, server_uri, simulated_celsius)
    client = LwM2MClient(tree, endpoint)
    await client.start()
    print(f"{endpoint} registering with {server_uri}; Ctrl-C de-registers", flush=True)
    try:
        while True:
            await asyncio.sleep(period)
            device_object.set_now(time.time())
            thermometer.measure()
    finally:
        await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="coap://127.0.0.1:5683", help="the server's URI")
    parser.add_argument("--endpoint", default="urn:dev:temperature-1", help="endpoint name")
    parser.add_argument("--period", type=float, default=5.0, help="seconds between readings")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.endpoint, args.server, args.period))


if __name__ == "__main__":
    main()
