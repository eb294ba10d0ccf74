"""Security layer: DTLS sessions, OSCORE and credentials; no asyncio, no sockets, no clock."""
