"""Why a device-management request failed, split by blame.

The device not answering (or answering nonsense) is a :class:`RequestFailedError`; asking for an
endpoint that is not registered or overfilling a queue-mode client's queue is the caller's
problem.  Bad paths, values or formats raise ``ValueError`` subclasses
(:class:`~lwm2m.operations.OperationUsageError`, :class:`~lwm2m.model.PathError`) before
anything is sent.
"""

from __future__ import annotations


class ServerError(Exception):
    """Base of the errors the server raises for a request."""


class UnknownEndpointError(ServerError, LookupError):
    """No registration with that endpoint name (or it went away while the request waited)."""


class QueueFullError(ServerError):
    """The queue-mode client's request queue is full; try again after it wakes up."""


class RequestFailedError(ServerError):
    """The request went out but ended without a usable response (RST, broken block-wise,
    a response that does not decode, or the server stopping)."""


class RequestTimeoutError(RequestFailedError, TimeoutError):
    """No answer in time: CoAP gave up, the caller's timeout passed, or the request sat in a
    queue-mode client's queue past its time to live."""
