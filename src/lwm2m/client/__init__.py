"""The device side: object handlers, the object tree, standard objects, the Telekom profile.

Device code implements :class:`ObjectImplementation` (or configures a :class:`SimpleObject`)
and puts its objects in an :class:`ObjectTree`; the client engines call the tree with paths,
nodes and the asking server's Short Server ID and listen to its :class:`DeviceEvent` stream.
"""

from lwm2m.client.objects import (
    BadRequestError,
    Changed,
    DeviceEvent,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    ObjectError,
    ObjectImplementation,
    ResourceValue,
    SimpleObject,
    UnauthorizedError,
    parse_execute_args,
)
from lwm2m.client.tree import DiscoverEntry, ObjectTree

__all__ = [
    "BadRequestError",
    "Changed",
    "DeviceEvent",
    "DiscoverEntry",
    "InternalError",
    "MethodNotAllowedError",
    "NotFoundError",
    "ObjectError",
    "ObjectImplementation",
    "ObjectTree",
    "ResourceValue",
    "SimpleObject",
    "UnauthorizedError",
    "parse_execute_args",
]
