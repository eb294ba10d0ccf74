"""Wrappers around independent LwM2M implementations that tests drive as subprocesses."""
