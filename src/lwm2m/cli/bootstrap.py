"""``lwm2m bootstrap``: the bootstrap server (CoAP/UDP) and its configuration REST API.

:func:`bootstrap_service` is also what ``lwm2m server --bootstrap-config`` runs next to the
LwM2M server, in the same event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import BinaryIO

from lwm2m.bootstrap import (
    BootstrapServer,
    BootstrapServerConfig,
    ConfigError,
    ConfigStore,
    TransportUnavailableError,
)
from lwm2m.bootstrap.api import ApiServer
from lwm2m.cli.payload import InputError

LOG_LEVELS = ("debug", "info", "warning", "error")
KEYS_HELP = "also send PSK keys and OSCORE secrets over NoSec (labs and tests only)"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "run the LwM2M bootstrap server with its REST API until SIGINT or SIGTERM"
    cmd = subparsers.add_parser("bootstrap", help=helptext, description=helptext)
    cmd.add_argument("--config", required=True, metavar="FILE", help="configurations (JSON)")
    cmd.add_argument("--host", default="0.0.0.0", help="address for CoAP and HTTP (0.0.0.0)")
    cmd.add_argument("--coap-port", type=int, default=5783, help="UDP port, 0: any (5783)")
    cmd.add_argument("--coaps-port", type=int, help="DTLS port (5784; needs DTLS support)")
    cmd.add_argument("--http-port", type=int, default=8081, help="TCP port, 0: any (8081)")
    cmd.add_argument("--keys-over-nosec", action="store_true", help=KEYS_HELP)
    cmd.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    cmd.set_defaults(handler=run_bootstrap)


def run_bootstrap(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(args, stdout))


async def _serve(args: argparse.Namespace, stdout: BinaryIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    config = BootstrapServerConfig(
        host=args.host,
        coap_port=args.coap_port,
        coaps_port=args.coaps_port,
        keys_over_nosec=args.keys_over_nosec,
    )
    async with bootstrap_service(args.config, config, args.http_port, args.log_level, stdout):
        await stop.wait()


@contextlib.asynccontextmanager
async def bootstrap_service(
    config_file: str,
    config: BootstrapServerConfig,
    http_port: int,
    log_level: str,
    stdout: BinaryIO,
) -> AsyncIterator[BootstrapServer]:
    """The bootstrap server and its REST API, listening until the block ends; InputError for
    a bad configuration file, a port in use or a transport this build lacks."""
    try:
        configs = ConfigStore.load(config_file)
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    server = BootstrapServer(config, configs=configs)
    try:
        await server.start()
    except TransportUnavailableError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"cannot listen on udp {config.host}:{config.coap_port}: {exc}") from None
    api = ApiServer(configs, host=config.host, port=http_port, log_level=log_level)
    try:
        try:
            await api.start()
        except OSError as exc:
            raise InputError(f"cannot listen on tcp {config.host}:{http_port}: {exc}") from None
        host, port = server.coap_address[:2]
        stdout.write(
            f"LwM2M bootstrap server on coap://{host}:{port} ({len(configs)} configurations)\n"
            f"bootstrap REST API on {api.url}/api/bootstrap\n".encode()
        )
        stdout.flush()
        yield server
    finally:
        await api.stop()
        await server.stop()
