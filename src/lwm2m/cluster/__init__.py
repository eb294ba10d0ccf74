"""Many nodes, one fleet: ``lwm2m server`` processes on one machine (``--workers``) or several
that share a Redis store; each device is served by one node, requests and events cross nodes,
and a dead node's devices are taken over (docs/cluster.md)."""

from lwm2m.cluster.messages import ClusterError
from lwm2m.cluster.node import ClusterConfig, ClusterNode, NodeIdInUseError
from lwm2m.cluster.relay import RemoteEvent

__all__ = ["ClusterConfig", "ClusterError", "ClusterNode", "NodeIdInUseError", "RemoteEvent"]
