"""NIDD (binding N): the LwM2M server as the SCS/AS of a TS 29.122 SCEF/NEF over T8.

:mod:`.peer` (no asyncio: the server core may import it) names devices and classifies delivery
statuses; :mod:`.callbacks` checks and parses the SCEF's notifications; :mod:`.t8` is the HTTP
client; :mod:`.transport` drives the server core over them (docs/nidd.md).
"""

from lwm2m.transport.nidd.peer import Delivery, NiddPeer, classify

__all__ = ["Delivery", "NiddPeer", "classify"]
