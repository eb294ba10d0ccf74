"""The ``lwm2m`` command."""
