"""Moving a device to another transport: the Registration Update Trigger with a transport
argument (``Execute /1/x/8`` with ``0='U'``), answered by the device's Update over the new
transport (LwM2M 1.1 Core §E.2, the whitepaper's "switch to UDP for a firmware update").

The server follows a device across transports without this: every Update moves its
registration to the peer it came from (:class:`~lwm2m.server.registrar.Registrar`), and
requests go out on the current one.  :func:`switch_transport` asks for the move and waits
for it, so the caller learns the outcome: the registration on the new transport, or why
not (the device refused the Execute, or its Update did not come).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lwm2m.coap.events import Peer
from lwm2m.operations import ErrorResponse, OperationUsageError
from lwm2m.server.errors import RequestFailedError, RequestTimeoutError, UnknownEndpointError
from lwm2m.server.events import Registered, ServerEvent, Updated
from lwm2m.server.registration import Registration
from lwm2m.transport.dtls import DtlsPeer
from lwm2m.transport.nidd.peer import NiddPeer
from lwm2m.transport.sms.binding import SmsPeer
from lwm2m.transport.tcp import StreamPeer

if TYPE_CHECKING:
    from lwm2m.server.server import LwM2MServer

TRANSPORTS = "UTSN"
SERVER_OBJECT = 1
REGISTRATION_UPDATE_TRIGGER = 8


class TransportRefusedError(RequestFailedError):
    """The device refused the transport (it does not hold it): its code and reason."""


def transport_of(address: Peer) -> str:
    """The binding letter of the transport a registration's address is on."""
    if isinstance(address, NiddPeer):
        return "N"
    if isinstance(address, SmsPeer):
        return "S"
    if isinstance(address, StreamPeer):
        return "T"
    if isinstance(address, tuple | DtlsPeer):
        return "U"
    return "?"


def server_instances(registration: Registration) -> list[int]:
    """The Server object instances (``</1/x>``) the device's object list names."""
    instances = []
    for link in registration.object_links:
        parts = link.target.strip("/").split("/")
        if len(parts) == 2 and parts[0] == str(SERVER_OBJECT) and parts[1].isdigit():
            instances.append(int(parts[1]))
    return instances


async def switch_transport(
    server: LwM2MServer,
    ep: str,
    transport: str,
    *,
    instance: int | None = None,
    timeout: float = 60.0,
) -> Registration:
    """Execute ``/1/{instance}/8`` with ``0='{transport}'`` on ``ep`` and wait for its Update
    over ``transport``; the registration then.  ``instance`` may be left out when the device
    has one Server instance.  OperationUsageError for a bad transport or instance,
    TransportRefusedError when the device refuses (its reason), RequestTimeoutError when the
    Update does not come within ``timeout``."""
    if transport not in TRANSPORTS or len(transport) != 1:
        raise OperationUsageError(f"transport {transport!r:.20} is not one of U, T, S, N")
    registration = server.registrations.get(ep)
    if registration is None:
        raise UnknownEndpointError(f"{ep} is not registered")
    if instance is None:
        instances = server_instances(registration)
        if len(instances) != 1:
            raise OperationUsageError(f"{ep} has Server instances {instances}: name one")
        instance = instances[0]
    moved: asyncio.Future[Registration] = asyncio.get_running_loop().create_future()

    def watch(event: ServerEvent) -> None:
        if (
            isinstance(event, Updated | Registered)
            and event.registration.endpoint == ep
            and transport_of(event.registration.address) == transport
            and not moved.done()
        ):
            moved.set_result(event.registration)

    unsubscribe = server.subscribe(watch)
    try:
        path = f"/{SERVER_OBJECT}/{instance}/{REGISTRATION_UPDATE_TRIGGER}"
        answer = await server.execute(ep, path, f"0='{transport}'", timeout=timeout)
        if isinstance(answer, ErrorResponse):
            reason = answer.message or "no reason given"
            raise TransportRefusedError(f"{ep} refused {transport}: {answer.code} {reason}")
        try:
            return await asyncio.wait_for(moved, timeout)
        except TimeoutError:
            raise RequestTimeoutError(
                f"{ep} accepted the trigger but sent no Update over {transport} within {timeout} s"
            ) from None
    finally:
        unsubscribe()
