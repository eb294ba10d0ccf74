"""``lwm2m bootstrap``: the bootstrap server (CoAP over UDP and DTLS) and its configuration
REST API.

:func:`bootstrap_service` is also what ``lwm2m server --bootstrap-config`` runs next to the
LwM2M server, in the same event loop, with the API mounted on the server's own HTTP port and
the server's PSKs.  :func:`add_psk_arguments` and :func:`load_credentials` are the ``--psk`` and
``--psk-file`` options both commands take.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import BinaryIO

from lwm2m.bootstrap import BootstrapServer, BootstrapServerConfig, ConfigError, ConfigStore
from lwm2m.cli.logs import add_log_arguments, configure_logging
from lwm2m.cli.options import (
    add_allowed_hosts_argument,
    add_http_host_arguments,
    allowed_hosts,
    any_port,
    port_or_off,
    refuse_open_http,
    required_port,
)
from lwm2m.cli.payload import InputError
from lwm2m.cli.secret_options import PSK_ENV, read_secret_file, spec_lines
from lwm2m.security.credentials import (
    CredentialStore,
    MemoryPskStore,
    PskCredential,
    load_psk_file,
)
from lwm2m.web.bootstrap_api import create_bootstrap_app
from lwm2m.web.serving import HttpServer

KEYS_HELP = "also send PSK keys and OSCORE secrets over NoSec (labs and tests only)"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "run the LwM2M bootstrap server with its REST API until SIGINT or SIGTERM"
    cmd = subparsers.add_parser("bootstrap", help=helptext, description=helptext)
    cmd.add_argument("--config", required=True, metavar="FILE", help="configurations (JSON)")
    cmd.add_argument("--host", default="0.0.0.0", help="address for CoAP (0.0.0.0)")
    cmd.add_argument("--coap-port", type=required_port, default=5783, help="UDP port (5783)")
    cmd.add_argument(
        "--coaps-port", type=port_or_off, default=5784, help="DTLS port, 0: off (5784)"
    )
    cmd.add_argument("--http-port", type=any_port, default=8081, help="TCP port, 0: any (8081)")
    add_http_host_arguments(cmd)
    cmd.add_argument("--keys-over-nosec", action="store_true", help=KEYS_HELP)
    add_log_arguments(cmd)
    add_allowed_hosts_argument(cmd)
    add_psk_arguments(cmd)
    cmd.set_defaults(handler=run_bootstrap)


def add_psk_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--psk",
        action="append",
        default=[],
        metavar="ENDPOINT:IDENTITY:HEXKEY",
        help="a device's pre-shared key for DTLS (repeat for several; visible to every local"
        f" user: prefer --psk-file or {PSK_ENV}, one such line each)",
    )
    cmd.add_argument(
        "--psk-file",
        metavar="FILE",
        help='pre-shared keys from a JSON list of {"endpoint", "identity", "key"}',
    )


def load_credentials(
    args: argparse.Namespace, into: CredentialStore | None = None
) -> CredentialStore:
    """The ``--psk-file``, ``--psk`` and ``LWM2M_PSK`` credentials, added to ``into`` (a
    persistent store) or to a new in-memory one; InputError naming the bad one, never its
    key."""
    credentials: list[PskCredential] = []
    if args.psk_file:
        try:
            credentials.extend(load_psk_file(read_secret_file(args.psk_file)))
        except ValueError as exc:
            raise InputError(f"{args.psk_file}: {exc}") from None
    for spec, where in spec_lines(args.psk, "--psk", None, PSK_ENV, file_option="--psk-file"):
        try:
            credentials.append(PskCredential.parse(spec))
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
    store = into if into is not None else MemoryPskStore()
    for credential in credentials:
        try:
            store.set(credential)
        except ValueError as exc:
            raise InputError(f"PSK of {credential.endpoint!r}: {exc}") from None
    return store


def run_bootstrap(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    stop_logging = configure_logging(args.log_level, args.log_format)
    try:
        asyncio.run(_serve(args, stdout))
    finally:
        stop_logging()


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
    refuse_open_http(args, None, "its API takes no token")
    configs = load_configs(args.config)
    credentials = load_credentials(args)
    api = HttpServer(
        create_bootstrap_app(configs, allowed_hosts=allowed_hosts(args)),
        host=args.http_host,
        port=args.http_port,
        log_level=args.log_level,
        access_log=args.access_log,
    )
    async with bootstrap_service(configs, config, credentials, stdout):
        try:
            await api.start()
        except OSError as exc:
            where = f"{args.http_host}:{args.http_port}"
            raise InputError(f"cannot listen on tcp {where}: {exc}") from None
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
    configs: ConfigStore,
    config: BootstrapServerConfig,
    credentials: CredentialStore,
    stdout: BinaryIO,
) -> AsyncIterator[BootstrapServer]:
    """The bootstrap server, listening until the block ends; InputError for a port in use.
    Its REST API is served by the caller."""
    server = BootstrapServer(config, configs=configs, credentials=credentials)
    try:
        await server.start()
    except OSError as exc:
        ports = f"{config.coap_port}" + (f", {config.coaps_port}" if config.coaps_port else "")
        raise InputError(f"cannot listen on udp {config.host}:{ports}: {exc}") from None
    try:
        host, port = server.coap_address[:2]
        uris = f"coap://{host}:{port}"
        if config.coaps_port is not None:
            uris += " and coaps://{}:{}".format(*server.coaps_address[:2])
        banner = f"LwM2M bootstrap server on {uris} ({len(configs)} configurations)"
        stdout.write(f"{banner}\n".encode())
        stdout.flush()
        yield server
    finally:
        await server.stop()
