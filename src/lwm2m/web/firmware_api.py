"""The firmware REST API and the HTTP download route (docs/firmware.md).

``POST /api/firmware`` adds a package: either ``multipart/form-data`` with a ``file`` part and
``version``, ``model`` and optional ``signature`` (a file part, or base64 text) fields, or the
bare bytes as the body with ``?version=&model=&signature=`` (base64).  201 with its metadata,
200 when the same bytes and metadata are there already, 409 when the same bytes are there
under other metadata, 413 over the size limit, 400 for anything else wrong.
``GET /api/firmware`` lists the packages, ``GET``/``DELETE /api/firmware/{sha256}`` reads and
removes one.  ``POST /api/firmware/{sha256}/url`` issues a download URL for one device,
``/offer`` also writes it to the device's /5/0/1, ``/push`` writes the package to /5/0/0.

``GET /fw/{token}`` (and HEAD) is the download itself, outside ``/api``: a device has no API
token, its URL authorises it.  Range, If-Range and If-None-Match are honoured (206, 304); a
token that does not authorise the request is 404 like one never issued.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from lwm2m.coap.codes import Code
from lwm2m.firmware import (
    SCHEMES,
    FirmwareDelivery,
    FirmwarePackage,
    PackageConflictError,
    PackageInputError,
    PackageTooLargeError,
    UnknownPackageError,
    Upload,
)
from lwm2m.firmware.package import MAX_SIGNATURE
from lwm2m.operations import ErrorResponse
from lwm2m.operations import Response as DeviceAnswer
from lwm2m.web import inputs

FORM_SLACK = 64 * 1024
"""Bytes a multipart body may have beyond the package: boundaries, headers, the fields."""

_CHUNK = 64 * 1024
_RANGE_START = re.compile(r"\s*bytes\s*=\s*(\d+)\s*-")


def firmware_routes(delivery: FirmwareDelivery) -> list[BaseRoute]:
    api = _FirmwareApi(delivery)
    package = "/api/firmware/{sha256}"
    return [
        Route("/api/firmware", api.list_packages, methods=["GET"]),
        Route("/api/firmware", api.upload, methods=["POST"]),
        Route(package, api.get_package, methods=["GET"]),
        Route(package, api.delete_package, methods=["DELETE"]),
        Route(package + "/url", api.issue_url, methods=["POST"]),
        Route(package + "/offer", api.offer, methods=["POST"]),
        Route(package + "/push", api.push, methods=["POST"]),
        Route("/fw/{token}", api.download, methods=["GET", "HEAD"]),
    ]


class _FirmwareApi:
    def __init__(self, delivery: FirmwareDelivery) -> None:
        self._delivery = delivery
        self._repository = delivery.repository

    async def list_packages(self, request: Request) -> Response:
        inputs.Query(request, ())
        return JSONResponse([package.to_json() for package in self._repository.packages()])

    async def get_package(self, request: Request) -> Response:
        inputs.Query(request, ())
        return JSONResponse(self._package(request).to_json())

    async def delete_package(self, request: Request) -> Response:
        inputs.Query(request, ())
        self._package(request)
        self._repository.delete(request.path_params["sha256"])
        return Response(status_code=204)

    def _package(self, request: Request) -> FirmwarePackage:
        try:
            return self._repository.package(request.path_params["sha256"])
        except UnknownPackageError as exc:
            raise HTTPException(404, str(exc)) from None

    # -- upload ------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        limit = self._repository.max_size
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit + FORM_SLACK:
            raise _too_large(limit)
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        try:
            with self._repository.upload() as upload:
                if multipart:
                    fields = await self._read_form(request, upload, limit)
                else:
                    inputs.Query(request, ("version", "model", "signature"))
                    fields = dict(request.query_params)
                    async for chunk in request.stream():
                        upload.write(chunk)
                package, created = await asyncio.to_thread(
                    self._repository.add,
                    upload,
                    version=_field(fields, "version"),
                    model=_field(fields, "model"),
                    signature=_signature(fields.get("signature")),
                )
        except PackageTooLargeError:
            raise _too_large(limit) from None
        except PackageInputError as exc:
            raise inputs.bad_request(str(exc)) from None
        except PackageConflictError as exc:
            raise HTTPException(409, str(exc)) from None
        return JSONResponse(package.to_json(), 201 if created else 200)

    async def _read_form(self, request: Request, upload: Upload, limit: int) -> dict[str, Any]:
        """The form's fields; its ``file`` part goes into ``upload``.  The body is counted as
        it arrives, so a lying or absent Content-Length cannot make us read past the limit."""
        counted = Request(request.scope, _counting(request.receive, limit + FORM_SLACK))
        async with counted.form(max_files=2, max_fields=8) as form:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise inputs.bad_request("a multipart upload needs a 'file' part")
            while chunk := await file.read(_CHUNK):
                upload.write(chunk)
            fields: dict[str, Any] = {}
            for name in ("version", "model", "signature"):
                value = form.get(name)
                fields[name] = (
                    await value.read(MAX_SIGNATURE + 1) if isinstance(value, UploadFile) else value
                )
            return fields

    # -- delivery ----------------------------------------------------------------------------

    async def issue_url(self, request: Request) -> Response:
        sha256 = self._package(request).sha256
        body = await _json_object(request, ("endpoint", "scheme", "ttl", "uses"))
        url, grant = self._delivery.url(
            _endpoint(body),
            sha256,
            _scheme(body),
            ttl=_number(body, "ttl"),
            uses=_count(body, "uses"),
        )
        return JSONResponse({"url": url, **grant.to_json()}, 201)

    async def offer(self, request: Request) -> Response:
        sha256 = self._package(request).sha256
        body = await _json_object(request, ("endpoint", "scheme", "ttl", "uses", "timeout"))
        url, answer = await self._delivery.offer(
            _endpoint(body),
            sha256,
            _scheme(body),
            ttl=_number(body, "ttl"),
            uses=_count(body, "uses"),
            timeout=_number(body, "timeout"),
        )
        return JSONResponse({"url": url, **_device_answer(answer)})

    async def push(self, request: Request) -> Response:
        sha256 = self._package(request).sha256
        body = await _json_object(request, ("endpoint", "timeout"))
        answer = await self._delivery.push(
            _endpoint(body), sha256, timeout=_number(body, "timeout")
        )
        return JSONResponse(_device_answer(answer))

    async def download(self, request: Request) -> Response:
        headers = request.headers
        range_header = headers.get("range")
        match = None if range_header is None else _RANGE_START.match(range_header)
        allowed = self._delivery.authorize(
            request.path_params["token"],
            range_start=None if range_header is None else int(match[1]) if match else 0,
            if_range=headers.get("if-range"),
            if_none_match=headers.get("if-none-match", ""),
        )
        if allowed is None:
            return Response(status_code=404)
        if isinstance(allowed, FirmwarePackage):
            return Response(status_code=304, headers={"ETag": allowed.http_etag})
        package = allowed.package
        return FileResponse(
            allowed.path,
            headers={"ETag": package.http_etag, "Cache-Control": "no-store"},
            media_type="application/octet-stream",
        )


def _counting(receive: Callable[[], Any], limit: int) -> Callable[[], Any]:
    received = 0

    async def counting() -> Message:
        nonlocal received
        message: Message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise PackageTooLargeError(limit - FORM_SLACK)
        return message

    return counting


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"a package may have at most {limit} bytes")


def _field(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise inputs.bad_request(f"the upload needs a {name}")
    return value


def _signature(value: object) -> bytes | None:
    """A signature part's bytes, or base64 text (a form field, a query parameter)."""
    if value is None or isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise inputs.bad_request("the signature must be base64 (or a file part)") from None


async def _json_object(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    inputs.Query(request, ())
    body = await inputs.read_json(request, inputs.MAX_BODY)
    if not isinstance(body, dict):
        raise inputs.bad_request("the body must be a JSON object")
    unknown = set(body) - set(allowed)
    if unknown:
        raise inputs.bad_request(f"unknown field {sorted(unknown)[0]!r:.40}")
    return body


def _endpoint(body: dict[str, Any]) -> str:
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise inputs.bad_request("endpoint must be a device's endpoint name")
    return endpoint


def _scheme(body: dict[str, Any]) -> str:
    scheme = body.get("scheme", "coap")
    if scheme not in SCHEMES:
        raise inputs.bad_request(f"scheme must be one of {', '.join(SCHEMES)}")
    return str(scheme)


def _number(body: dict[str, Any], name: str) -> float | None:
    """A positive number of seconds (``ttl``, ``timeout``), None when absent."""
    return _positive(body, name, int | float, "a positive number of seconds")


def _count(body: dict[str, Any], name: str) -> int | None:
    value = _positive(body, name, int, "a positive integer")
    return None if value is None else int(value)


def _positive(body: dict[str, Any], name: str, kind: Any, what: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind) or not 0 < value <= 1e9:
        raise inputs.bad_request(f"{name} must be {what}")
    return float(value)


def _device_answer(answer: DeviceAnswer) -> dict[str, object]:
    """A Write's answer as the REST API shows device answers: the CoAP code in ``status``."""
    if isinstance(answer, ErrorResponse):
        return {"status": answer.code.dotted, "message": answer.message}
    return {"status": Code.CHANGED.dotted}
