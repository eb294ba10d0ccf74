"""``lwm2m bootstrap``: the bootstrap server (CoAP/UDP) and its configuration REST API.

:func:`bootstrap_service` is also what ``lwm2m server --bootstrap-config`` runs next to the
LwM2M server, in the same event loop, with the API mounted on the server's own HTTP port.
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
from lwm2m.cli.payload import InputError
from lwm2m.web.bootstrap_api import create_bootstrap_app
from lwm2m.web.serving import HttpServer

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
    configs = load_configs(args.config)
    api = HttpServer(
        create_bootstrap_app(configs), host=args.host, port=args.http_port, log_level=args.log_level
    )
    async with bootstrap_service(configs, config, stdout):
        try:
            await api.start()
        except OSError as exc:
            raise InputError(f"cannot listen on tcp {args.host}:{args.http_port}: {exc}") from None
        try:
            stdout.write(f"bootstrap REST API on {api.url}/api/bootstrap\n".encode())
            stdout.flush()
            await stop.wait()
        finally:
            await api.stop()


def load_configs(config_file: str) -> ConfigStore:
    """The configurations file, or InputError saying what is wrong with it."""
    try:
        return ConfigStore.load(config_file)
    except ConfigError as exc:
        raise InputError(str(exc)) from None


@contextlib.asynccontextmanager
async def bootstrap_service(
    configs: ConfigStore, config: BootstrapServerConfig, stdout: BinaryIO
) -> AsyncIterator[BootstrapServer]:
    """The bootstrap server, listening until the block ends; InputError for a port in use or
    a transport this build lacks.  Its REST API is served by the caller."""
    server = BootstrapServer(config, configs=configs)
    try:
        await server.start()
    except TransportUnavailableError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"cannot listen on udp {config.host}:{config.coap_port}: {exc}") from None
    try:
        host, port = server.coap_address[:2]
        banner = f"LwM2M bootstrap server on coap://{host}:{port} ({len(configs)} configurations)"
        stdout.write(f"{banner}\n".encode())
        stdout.flush()
        yield server
    finally:
        await server.stop()
