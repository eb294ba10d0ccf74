"""The device side's cellular modem driver: AT commands (TS 27.007 / 27.005) over a serial
line, for NB-IoT Non-IP data delivery.

Sans-I/O parts (no asyncio, sockets or clock): :mod:`.session` (the AT core),
:mod:`.commands` (typed commands and their parsers), :mod:`.urc` (typed URCs),
:mod:`.nas` (timer and signal encodings), :mod:`.status` (what the modem reported, RAI),
:mod:`.quirks` (vendor differences). See ``docs/modem.md``.
"""
