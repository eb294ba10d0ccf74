"""Firmware update for the simulated device: package format, download slot, pull over CoAP and
HTTP, and the updater behind /5 (docs/firmware.md)."""
