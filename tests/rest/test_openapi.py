"""``/openapi.json`` describes every route a running ``lwm2m server`` mounts, and every answer
it gives matches the description: schemathesis drives each operation against the server with
three simulated devices registered (half the cases aimed at a real device and path, so device
answers are checked too, not only 404s), with no server error anywhere."""

from __future__ import annotations

import collections
import itertools
import urllib.request
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.rest.conftest import Served

pytestmark = pytest.mark.timeout(120)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
SAFE_PATHS = {
    "GET": ["3/0", "3/0/9", "1/0", "4/0/0", "3/0/11/0"],
    "PUT": ["1/0/1", "3/0/14", "3/0/9"],
    "PATCH": ["3/0", "3/0/15"],
    "POST": ["3/0/9", "3/0/13", "4/0/2"],  # observe and execute: nothing that reboots
    "DELETE": ["3/0", "3303/0", "3/0/9"],
}
"""Paths of the demo devices the aimed cases use; none resets or disables a device."""
_turn = itertools.count()
SEEN: collections.Counter[tuple[str, int]] = collections.Counter()


def _aim(case: schemathesis.Case, endpoints: list[str]) -> None:
    """Every other case names a registered device and a real path; timeouts are kept long
    enough for a device on loopback to answer (a 1 µs timeout would rightly be a 504)."""
    turn = next(_turn)
    parameters = case.path_parameters or {}
    query = case.query if isinstance(case.query, dict) else {}
    if "timeout" in query:
        query["timeout"] = 5
    if isinstance(case.body, dict) and "timeout" in case.body:
        case.body["timeout"] = 2
    if turn % 2 or not case.operation.path.startswith("/api/clients/"):
        return
    if "endpoint" in parameters:
        parameters["endpoint"] = endpoints[turn // 2 % len(endpoints)]
    if "path" in parameters:
        choices = SAFE_PATHS[case.method.upper()]
        parameters["path"] = choices[turn // 2 % len(choices)]


def test_every_answer_matches_the_description(served: Served) -> None:
    """Each operation in turn, its examples bounded; failures are gathered, then reported."""
    api = schemathesis.openapi.from_url(served.url + "/openapi.json", config=CONFIG)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @EXAMPLES
        def check(case: schemathesis.Case) -> None:
            _call(case, served)

        try:
            check()
        except Exception as exc:  # every operation is tried; all failures are shown
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())
    assert len(operations) >= 50


def _call(case: schemathesis.Case, served: Served) -> None:
    _aim(case, served.endpoints)
    headers = {"Authorization": f"Bearer {served.token}"}
    if case.operation.path.endswith("/events"):  # a stream: its head is the answer to check
        request = case.as_transport_kwargs(base_url=served.url, headers=headers)
        with httpx.stream(
            request["method"],
            request["url"],
            params=request.get("params"),
            headers=request["headers"],
            timeout=10,
        ) as response:
            status, kind = response.status_code, response.headers["content-type"]
        assert status in (200, 400, 404), status
        assert kind.startswith("text/event-stream" if status == 200 else "application/json")
        SEEN[(case.operation.label, status)] += 1
        return
    response = case.call_and_validate(base_url=served.url, headers=headers, checks=CHECKS)
    SEEN[(case.operation.label, response.status_code)] += 1


def test_every_mounted_route_is_described(served: Served) -> None:
    """The document is assembled from the server's route table: a route without a
    description in lwm2m.web.openapi_operations is marked, and fails here."""
    with urllib.request.urlopen(served.url + "/openapi.json", timeout=10) as answer:
        document: dict[str, Any] = __import__("json").load(answer)
    validate(document)
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("x-undescribed")
    ]
    assert missing == [], "describe these in lwm2m/web/openapi_operations.py"
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "/api/firmware/{sha256}/push" in document["paths"]
    assert "/api/bootstrap/{endpoint}" in document["paths"]


def test_device_answers_were_checked(served: Served) -> None:
    """Runs after the generated cases: they reached real devices, not only errors."""
    if not SEEN:
        pytest.skip("run with the generated cases")
    reached = {label for (label, status), _ in SEEN.items() if status == 200}
    device_operations = {label for label in reached if "{path}" in label}
    assert len(device_operations) >= 6, sorted(SEEN.items())
