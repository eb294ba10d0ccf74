"""lwm2m: an OMA LwM2M 1.1 device management stack for cellular IoT."""

__version__ = "0.1.0"
