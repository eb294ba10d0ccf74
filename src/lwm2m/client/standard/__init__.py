"""Standard OMA objects on top of :class:`~lwm2m.client.objects.SimpleObject`.

Objects that only store values (Location, Cellular Connectivity, APN profiles, the cell
measurement objects, OSCORE, ...) are plain ``SimpleObject``; the modules here hold the ones
with behaviour: executes that become events, state machines, counters, access rules.
"""
