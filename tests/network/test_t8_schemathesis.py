"""Every operation of the three T8 APIs against its own OpenAPI file (schemathesis): no
server error, and every response (status, media type, headers, body) as the file defines."""

from __future__ import annotations

import collections
import itertools

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lwm2m.network.t8_app import create_t8_app
from tests.network.hosts import MemoryHost
from tests.network.spec import bundled

TOKEN = "t8-secret"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
"""The coverage phase enumerates every property combination of MonitoringEventSubscription
(minutes); the fuzzing phase alone, with a fixed number of examples, keeps this bounded."""
EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


SCS = "as1"
HOST = MemoryHost(sims=6)
SIMS = list(HOST.network.hss)
REFUSED = {
    "rdsPorts",
    "rdsPort",
    "websockNotifConfig",
    "niddDownlinkDataTransfers",
    "externalGroupId",
    "duration",
    "priority",
    "immediateRep",
    "idleStatusIndication",
    "addnMonTypes",
    "monitorExpireTime",
    "addedExternalIds",
    "addedMsisdns",
    "excludedExternalIds",
    "excludedMsisdns",
    "addExtGroupId",
    "pdnEstablishmentOption",
}
"""Optional attributes this SCEF refuses with 400 (features it does not have) or that a
generator fills with dates in the past."""
FIXED = {
    "reliableDataService": False,
    "data": "AQID",
    "triggerPayload": "AQI=",
    "monitoringType": "UE_REACHABILITY",
    "reachabilityType": "DATA",
    "maximumNumberOfReports": 3,
    "notificationDestination": "http://127.0.0.1:9/callbacks",
}
TARGETS = {"configurationId": [], "subscriptionId": [], "transactionId": []}
"""Resources created up front, so that generated requests also reach existing ones."""
_turn = itertools.count()


def _populate() -> None:
    destination = "http://127.0.0.1:9/callbacks"
    nidd, monitoring, triggering = HOST.scef.nidd, HOST.scef.monitoring, HOST.scef.triggering
    for sim in SIMS[:3]:
        body = {"externalId": sim.external_id, "notificationDestination": destination}
        reply = nidd.create_configuration(SCS, body, HOST.time, "http://t8")
        TARGETS["configurationId"].append(reply.body["self"].rsplit("/", 1)[1])
        body |= {
            "monitoringType": "UE_REACHABILITY",
            "reachabilityType": "DATA",
            "maximumNumberOfReports": 5,
        }
        reply = monitoring.create(SCS, body, HOST.time, "http://t8")
        TARGETS["subscriptionId"].append(reply.body["self"].rsplit("/", 1)[1])
        body = {
            "externalId": sim.external_id,
            "notificationDestination": destination,
            "validityPeriod": 600,
            "priority": "NO_PRIORITY",
            "applicationPortId": 1,
            "triggerPayload": "AQI=",
        }
        reply = triggering.create(SCS, body, HOST.time, "http://t8")
        TARGETS["transactionId"].append(reply.body["self"].rsplit("/", 1)[1])


_populate()


def _schema(api: str) -> schemathesis.schemas.BaseSchema:
    schema = schemathesis.openapi.from_dict(bundled(api), config=CONFIG)
    schema.app = create_t8_app(HOST, token=TOKEN)
    return schema


def _aim(case: schemathesis.Case) -> None:
    """Every other case is pointed at real data: an existing SCS/AS resource, a known UE and
    a callback URI, so success responses are checked too, not only 404s and 400s."""
    turn = next(_turn)
    if turn % 2:
        return
    parameters = case.path_parameters or {}
    if "scsAsId" in parameters:
        parameters["scsAsId"] = SCS
    deleting = case.method.upper() == "DELETE"
    for name, ids in TARGETS.items():
        if name in parameters:  # two resources to work on, the third to delete
            parameters[name] = ids[2] if deleting else ids[turn // 2 % 2]
    if isinstance(case.body, dict):
        body = {k: v for k, v in case.body.items() if k not in REFUSED and k != "msisdn"}
        body |= {k: v for k, v in FIXED.items() if k in case.body}
        if case.method.upper() == "POST" and "configurationId" not in parameters:
            body["externalId"] = SIMS[3 + turn // 2 % 3].external_id  # a UE without resources
        elif "externalId" in case.body or "msisdn" in case.body:
            body["externalId"] = SIMS[turn // 2 % 2].external_id  # the targeted resource's UE
        if "validityPeriod" in body:
            body["priority"] = "NO_PRIORITY"
        case.body = body


nidd = _schema("nidd")
triggering = _schema("triggering")
monitoring = _schema("monitoring")


SEEN: collections.Counter[tuple[str, int]] = collections.Counter()


def _call(case: schemathesis.Case) -> None:
    _aim(case)
    response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
    SEEN[(case.operation.label, response.status_code)] += 1


@nidd.parametrize()
@EXAMPLES
def test_nidd(case: schemathesis.Case) -> None:
    _call(case)


@triggering.parametrize()
@EXAMPLES
def test_device_triggering(case: schemathesis.Case) -> None:
    _call(case)


@monitoring.parametrize()
@EXAMPLES
def test_monitoring_event(case: schemathesis.Case) -> None:
    _call(case)


def test_success_responses_were_checked() -> None:
    """Runs after the generated cases: they reached real resources, not only errors."""
    successes = {label for (label, status), _ in SEEN.items() if status < 300}
    assert len(successes) >= 15, "\n".join(map(str, sorted(SEEN.items())))
