"""Deutsche Telekom's LwM2M device profile and the check of a registered device against it.

Sits above ``server`` (it collects through an :class:`~lwm2m.server.LwM2MServer` or its REST
API) and below ``web`` and ``cli``, which present its :class:`ComplianceReport`.
"""

from lwm2m.compliance.checker import ComplianceReport, DeviceData, Verdict, check
from lwm2m.compliance.collect import CollectError, RestSource, ServerSource, collect
from lwm2m.server.timer_rules import Outcome

__all__ = [
    "CollectError",
    "ComplianceReport",
    "DeviceData",
    "Outcome",
    "RestSource",
    "ServerSource",
    "Verdict",
    "check",
    "collect",
]
