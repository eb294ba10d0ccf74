"""One frozen type per LwM2M operation, and the typed responses they get.

Requests name what the operation means, never how CoAP carries it; :mod:`.mapping` translates
both ways.  A success response type is implied by its request (:data:`RESPONSE_TYPES`); every
operation may instead get an :class:`ErrorResponse`.  Every response has ``ok``,
``raise_for_status()``, ``value`` and ``values``, so that code using the server's API reads a
value without matching on the response type first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Self

from lwm2m.coap.codes import Code
from lwm2m.codec.link import Link
from lwm2m.model import (
    MultipleResource,
    Node,
    ObjectInstance,
    Path,
    ResourceInstance,
    SingleResource,
    TimestampedValues,
    Value,
    node_to_values,
)
from lwm2m.operations.attributes import NotificationAttributes
from lwm2m.operations.execute import ExecuteArgument
from lwm2m.operations.registration import ObjectLinks

# -- Client Registration interface, Send and Bootstrap-Request (client -> server) ----------


@dataclass(frozen=True, slots=True)
class Register:
    """``POST /rd?ep=..`` (Core 6.2.1, Transport 6.2).

    ``lifetime`` None means not sent (the server assumes 86400 s); 0 is accepted and means no
    expiry, as the Server object's Lifetime resource defines.  ``extra`` keeps query items
    this version does not know, verbatim, so a newer client is not refused.
    """

    endpoint: str
    objects: ObjectLinks
    lifetime: int | None = None
    lwm2m_version: str = "1.1"
    binding: str | None = None
    queue_mode: bool = False
    sms: str | None = None
    extra: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Update:
    """``POST /{location}`` with the parameters that changed (Core 6.2.2); all are optional."""

    location: tuple[str, ...]
    lifetime: int | None = None
    binding: str | None = None
    sms: str | None = None
    objects: ObjectLinks | None = None
    extra: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Deregister:
    """``DELETE /{location}`` (Core 6.2.3)."""

    location: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BootstrapRequest:
    """``POST /bs?ep=..&pct=..`` (Core 5.2.7.1); ``preferred_format`` is 1.1's pct."""

    endpoint: str
    preferred_format: int | None = None


@dataclass(frozen=True, slots=True)
class BootstrapFinish:
    """``POST /bs`` without query (Core 5.2.7.2): the bootstrap server is done."""


@dataclass(frozen=True, slots=True)
class Send:
    """``POST /dp`` with timestamped values (Core 6.4.4, Transport 6.5)."""

    batches: tuple[TimestampedValues, ...]


# -- Device Management and Service Enablement, Information Reporting (server -> client) ----


@dataclass(frozen=True, slots=True)
class Read:
    path: Path
    accept: int | None = None


@dataclass(frozen=True, slots=True)
class Discover:
    """``GET`` with Accept 40; ``depth`` is LwM2M 1.2's limit on how deep links go."""

    path: Path
    depth: int | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """Replace (PUT) or, with ``partial``, partial update (POST) of the node at ``path``."""

    path: Path
    node: Node
    partial: bool = False


@dataclass(frozen=True, slots=True)
class WriteAttributes:
    path: Path
    attributes: NotificationAttributes


@dataclass(frozen=True, slots=True)
class Execute:
    path: Path
    arguments: tuple[ExecuteArgument, ...] = ()


@dataclass(frozen=True, slots=True)
class Create:
    """``POST /{object}`` creating the given instances (their IDs chosen by the server)."""

    object_id: int
    instances: tuple[ObjectInstance, ...]


@dataclass(frozen=True, slots=True)
class Delete:
    path: Path


@dataclass(frozen=True, slots=True)
class ReadComposite:
    paths: tuple[Path, ...]
    accept: int | None = None


@dataclass(frozen=True, slots=True)
class WriteComposite:
    values: Mapping[Path, Value]


@dataclass(frozen=True, slots=True)
class Observe:
    """``GET`` with Observe 0, or with ``cancel`` Observe 1 (Core 6.4.1, 6.4.2)."""

    path: Path
    accept: int | None = None
    cancel: bool = False


@dataclass(frozen=True, slots=True)
class ObserveComposite:
    """``FETCH`` with Observe 0, or with ``cancel`` Observe 1 (Core 6.4.5, 6.4.6)."""

    paths: tuple[Path, ...]
    accept: int | None = None
    cancel: bool = False


ClientRequest = Register | Update | Deregister | BootstrapRequest | Send
"""Requests a client sends."""

ServerRequest = (
    BootstrapFinish
    | Read
    | Discover
    | Write
    | WriteAttributes
    | Execute
    | Create
    | Delete
    | ReadComposite
    | WriteComposite
    | Observe
    | ObserveComposite
)
"""Requests a (bootstrap) server sends."""

Operation = ClientRequest | ServerRequest

# -- Responses ----------------------------------------------------------------------------


class ResponseError(Exception):
    """The peer answered with an error (:meth:`ErrorResponse.raise_for_status`)."""

    def __init__(self, response: ErrorResponse) -> None:
        detail = f": {response.message}" if response.message else ""
        super().__init__(f"{response.code}{detail}")
        self.response = response
        self.code = response.code
        self.message = response.message


class _Outcome:
    """What every response offers; subclasses with a body override ``value`` and ``values``."""

    __slots__ = ()

    @property
    def ok(self) -> bool:
        """False for an :class:`ErrorResponse` (4.xx, 5.xx)."""
        return True

    def raise_for_status(self) -> Self:
        """This response, or ResponseError for an :class:`ErrorResponse`."""
        return self

    @property
    def value(self) -> Value | Mapping[int, Value]:
        """The one value a read of a resource or resource instance got (a multiple resource's
        as ``{instance ID: value}``); ResponseError for an error, ValueError for a node of
        several resources (use :attr:`values`), TypeError for a response without values."""
        raise TypeError(f"{type(self).__name__} carries no value")

    @property
    def values(self) -> Mapping[Path, Value]:
        """Every leaf value by path; ResponseError for an error, TypeError without values."""
        raise TypeError(f"{type(self).__name__} carries no values")


@dataclass(frozen=True, slots=True)
class EmptyResponse(_Outcome):
    """Success without a body: 2.04 Changed or 2.02 Deleted, as the operation defines."""


@dataclass(frozen=True, slots=True)
class NodeResponse(_Outcome):
    """2.05 to Read and Observe, and each notification; ``observe`` is its sequence number.

    ``path`` is the node's path, set by the server's API from the request (None where no one
    set it); :attr:`values` needs it."""

    node: Node
    content_format: int | None = None
    observe: int | None = None
    path: Path | None = field(default=None, compare=False)

    def at(self, path: Path) -> NodeResponse:
        """This response, knowing the path of its node."""
        return replace(self, path=path)

    @property
    def value(self) -> Value | Mapping[int, Value]:
        node = self.node
        if isinstance(node, SingleResource | ResourceInstance):
            return node.value
        if isinstance(node, MultipleResource):
            return dict(node.instances)
        raise ValueError(f"{type(node).__name__} {node.id} holds several resources: use .values")

    @property
    def values(self) -> Mapping[Path, Value]:
        if self.path is None:
            raise ValueError("this response does not know its node's path: node_to_values()")
        return node_to_values(self.path, self.node)


@dataclass(frozen=True, slots=True)
class ValuesResponse(_Outcome):
    """2.05 to Read-Composite and Observe-Composite, and their notifications."""

    values: Mapping[Path, Value]  # the field is what the base class's property promises
    content_format: int | None = None
    observe: int | None = None

    @property
    def value(self) -> Value:
        if len(self.values) != 1:
            raise ValueError(f"{len(self.values)} values: use .values")
        (only,) = self.values.values()
        return only


@dataclass(frozen=True, slots=True)
class LinksResponse(_Outcome):
    """2.05 to Discover: one link per node, with the attributes attached to it."""

    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class CreatedResponse(_Outcome):
    """2.01 to Create; ``location`` is the new instance when the request left the ID open."""

    location: Path | None = None


@dataclass(frozen=True, slots=True)
class RegisteredResponse(_Outcome):
    """2.01 to Register: Location-Path segments that Update and De-register address."""

    location: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ErrorResponse(_Outcome):
    """Any 4.xx/5.xx; ``message`` is the diagnostic payload (RFC 7252 5.5.2), if any."""

    code: Code
    message: str = ""

    @property
    def ok(self) -> bool:
        return False

    def raise_for_status(self) -> Self:
        raise ResponseError(self)

    @property
    def value(self) -> Value | Mapping[int, Value]:
        raise ResponseError(self)

    @property
    def values(self) -> Mapping[Path, Value]:
        raise ResponseError(self)


Response = (
    EmptyResponse
    | NodeResponse
    | ValuesResponse
    | LinksResponse
    | CreatedResponse
    | RegisteredResponse
    | ErrorResponse
)
