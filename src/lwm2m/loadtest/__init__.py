"""Load testing: ``lwm2m bench``, a server against a fleet of simulated devices.

:mod:`~lwm2m.loadtest.device` is the fleet's CoAP side (sans-I/O), :mod:`~lwm2m.loadtest.fleet`
the shard processes that put it on sockets, :mod:`~lwm2m.loadtest.runner` the server side and
the report.
"""

from lwm2m.loadtest.runner import TARGETS, BenchConfig, BenchReport, Load, run_bench
from lwm2m.loadtest.shards import BenchError

__all__ = ["TARGETS", "BenchConfig", "BenchError", "BenchReport", "Load", "run_bench"]
