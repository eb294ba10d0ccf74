"""OSCORE (RFC 8613) transformer throughput with the mandatory AES-CCM-16-64-128.

An LwM2M Read of /3/0/9 and its 2.05 answer with a 30-byte body, protected and unprotected
on both sides, as engines do around the CoAP endpoint (encoding and sockets not included).
Sequence numbers are reserved in chunks in a memory store, as a persistent one would be.
"""

from __future__ import annotations

from bench.common import BenchResult, ops_per_second
from lwm2m.coap import Code, Message, Options, Type
from lwm2m.security.oscore import (
    SecurityContext,
    protect_request,
    protect_response,
    unprotect_request,
    unprotect_response,
)

SECRET = bytes(range(16))
READ = Message(
    Type.CON, Code.GET, 0x1234, b"\xde\xad", Options.build(uri_path=["3", "0", "9"], accept=11542)
)
CONTENT = Message(
    Type.ACK, Code.CONTENT, 0x1234, b"\xde\xad", Options.build(content_format=11542), bytes(30)
)


def run() -> list[BenchResult]:
    client = SecurityContext(SECRET, b"\x01", b"\x02")
    server = SecurityContext(SECRET, b"\x02", b"\x01")

    def request() -> Message:
        protected, _ = protect_request(client, READ)
        return unprotect_request(server, protected)[0]

    def exchange() -> Message:
        protected, binding = protect_request(client, READ)
        _, server_binding = unprotect_request(server, protected)
        return unprotect_response(binding, protect_response(server_binding, CONTENT))

    def derive() -> SecurityContext:
        return SecurityContext(SECRET, b"\x01", b"\x02")

    return [
        BenchResult("oscore protect + unprotect, Read request", ops_per_second(request), "msg/s"),
        BenchResult(
            "oscore Read exchange (4 transformations)", ops_per_second(exchange), "exchanges/s"
        ),
        BenchResult("oscore security context derivation", ops_per_second(derive), "contexts/s"),
    ]
