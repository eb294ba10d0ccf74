"""openapi-core checks of T8 traffic: responses of our SCEF and the notifications it posts,
each against the 3GPP OpenAPI file of its API (bundled by :mod:`tests.network.spec`)."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

from tests.network.spec import bundled, load

ROOTS = {
    "nidd": "/3gpp-nidd/v1",
    "triggering": "/3gpp-device-triggering/v1",
    "monitoring": "/3gpp-monitoring-event/v1",
}
HOST = "http://t8.test"


@functools.cache
def _openapi(api: str, callbacks: bool) -> OpenAPI:
    problem_json = {"application/problem+json": json.loads}  # ProblemDetails bodies
    config = Config(extra_media_type_deserializers=problem_json)
    return OpenAPI.from_dict(bundled(api, callbacks=callbacks), config=config)


def api_of(path: str) -> str:
    return next(api for api, root in ROOTS.items() if path.startswith(root))


def check_exchange(response: httpx.Response) -> None:
    """The response of a T8 request is one its OpenAPI file allows (status, media type,
    headers, body); raises otherwise."""
    request = response.request
    media = request.headers.get("content-type", "application/json")
    data = request.content.decode() or None
    mock_request = MockRequest(
        HOST, request.method.lower(), request.url.path, data=data, content_type=media
    )
    mock_response = MockResponse(
        response.content,
        status_code=response.status_code,
        content_type=response.headers.get("content-type", "").split(";")[0],
        headers=dict(response.headers),
    )
    _openapi(api_of(request.url.path), False).validate_response(mock_request, mock_response)


def check_callback(api: str, schema: str, body: dict[str, Any]) -> None:
    """A notification body is a valid ``schema``, one of the callback bodies of ``api``."""
    response = MockResponse(json.dumps(body).encode(), content_type="application/json")
    _openapi(api, True).validate_response(MockRequest(HOST, "get", f"/{schema}"), response)


def check_test_notification(body: dict[str, Any]) -> None:
    """A test notification (TS 29.122 5.2.5.3) against CommonData's TestNotification: it is
    no member of the APIs' callback bodies."""
    schema = copy.deepcopy(load("TS29122_CommonData.yaml")["components"]["schemas"])
    test = schema["TestNotification"]
    test["properties"]["subscription"] = schema["Link"]
    OAS30Validator(test).validate(body)
