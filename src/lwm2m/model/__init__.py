"""Paths, nodes, typed values and object/resource models (sans-I/O)."""

from lwm2m.model.builtin import builtin_models
from lwm2m.model.catalog import add_ddf_files, default_models
from lwm2m.model.ddf import DdfError, load_ddf
from lwm2m.model.nodes import (
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectNode,
    Resource,
    ResourceInstance,
    SingleResource,
    TimestampedValues,
    node_to_values,
    values_to_node,
)
from lwm2m.model.objects import (
    ModelRegistry,
    ModelSource,
    ObjectModel,
    ObjectSummary,
    Operations,
    ResourceModel,
)
from lwm2m.model.path import ROOT, Path, PathError
from lwm2m.model.values import ObjectLink, ResourceType, Value, range_problem, value_problem

__all__ = [
    "ROOT",
    "DdfError",
    "ModelRegistry",
    "ModelSource",
    "MultipleResource",
    "Node",
    "ObjectInstance",
    "ObjectLink",
    "ObjectModel",
    "ObjectNode",
    "ObjectSummary",
    "Operations",
    "Path",
    "PathError",
    "Resource",
    "ResourceInstance",
    "ResourceModel",
    "ResourceType",
    "SingleResource",
    "TimestampedValues",
    "Value",
    "add_ddf_files",
    "builtin_models",
    "default_models",
    "load_ddf",
    "node_to_values",
    "range_problem",
    "value_problem",
    "values_to_node",
]
