"""Sans-I/O CoAP: message codec (UDP and RFC 8323 framing), options and the endpoint."""
