"""DevCapMgmt object (/15): device capability groups a server can enable and disable."""

from __future__ import annotations

from collections.abc import Mapping

from lwm2m.client.objects import ResourceValue, SimpleObject
from lwm2m.model import ObjectModel

PROPERTY = 0
GROUP = 1
DESCRIPTION = 2
ATTACHED = 3
ENABLED = 4
OP_ENABLE = 5
OP_DISABLE = 6


class DevCapObject(SimpleObject):
    """One instance per capability group; opEnable/opDisable flip Enabled."""

    def __init__(
        self, model: ObjectModel, instances: Mapping[int, Mapping[int, ResourceValue]]
    ) -> None:
        super().__init__(
            model,
            instances,
            executors={
                OP_ENABLE: lambda iid, args: self.set(iid, ENABLED, True),
                OP_DISABLE: lambda iid, args: self.set(iid, ENABLED, False),
            },
            creatable=False,
        )
