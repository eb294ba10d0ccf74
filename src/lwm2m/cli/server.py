"""``lwm2m server``: the LwM2M server (CoAP over UDP and DTLS) and its REST API in one event
loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import BinaryIO

from lwm2m.bootstrap import BootstrapServerConfig, ConfigStore
from lwm2m.cli.bootstrap import add_psk_arguments, bootstrap_service, load_configs, load_credentials
from lwm2m.cli.campaign import server_campaigns
from lwm2m.cli.cellular_options import (
    add_cellular_arguments,
    nidd_settings,
    sms_settings,
    wake_settings,
)
from lwm2m.cli.demo import MAX_DEVICES, demo_devices
from lwm2m.cli.firmware import add_server_arguments, server_delivery
from lwm2m.cli.logs import LifecycleLog, add_log_arguments, configure_logging
from lwm2m.cli.northbound import add_northbound_arguments, northbound_options, northbound_services
from lwm2m.cli.options import (
    add_allowed_hosts_argument,
    add_http_host_arguments,
    allowed_hosts,
    any_port,
    port_or_off,
    refuse_open_http,
    required_port,
)
from lwm2m.cli.payload import InputError, load_models
from lwm2m.cli.secret_options import (
    AUTH_TOKEN_ENV,
    OSCORE_ENV,
    add_auth_arguments,
    auth_token,
    spec_lines,
)
from lwm2m.cli.workers import (
    add_cluster_arguments,
    check_cluster_arguments,
    close_cluster,
    join_cluster,
    run_workers,
)
from lwm2m.security.credentials import OscoreCredential
from lwm2m.security.oscore_endpoint import OscoreServerContexts
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.runtime import event_loop_factory, tune_garbage_collector
from lwm2m.storage import RedisStore, SqliteStore, StoreError, close_store, open_any_store
from lwm2m.web.bootstrap_api import bootstrap_routes
from lwm2m.web.campaign_api import campaign_routes
from lwm2m.web.events import DEFAULT_MAX_SUBSCRIBERS, EventHub
from lwm2m.web.firmware_api import firmware_routes
from lwm2m.web.serving import WebServer


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "run the LwM2M server with its REST API until SIGINT or SIGTERM"
    cmd = subparsers.add_parser("server", help=helptext, description=helptext)
    cmd.add_argument("--host", default="0.0.0.0", help="address for CoAP (0.0.0.0)")
    cmd.add_argument("--coap-port", type=required_port, default=5683, help="UDP port (5683)")
    cmd.add_argument(
        "--coaps-port", type=port_or_off, default=5684, help="DTLS port, 0: off (5684)"
    )
    cmd.add_argument(
        "--tcp-port", type=port_or_off, default=5683, help="CoAP over TCP port, 0: off (5683)"
    )
    cmd.add_argument(
        "--tls-port", type=port_or_off, default=5684, help="CoAP over TLS port, 0: off (5684)"
    )
    cmd.add_argument("--http-port", type=any_port, default=8080, help="TCP port, 0: any (8080)")
    add_http_host_arguments(cmd)
    add_log_arguments(cmd)
    add_auth_arguments(cmd)
    add_allowed_hosts_argument(cmd)
    cmd.add_argument(
        "--max-event-streams",
        type=int,
        default=DEFAULT_MAX_SUBSCRIBERS,
        metavar="N",
        help=f"most /api/events streams open at once, 503 past it ({DEFAULT_MAX_SUBSCRIBERS})",
    )
    cmd.add_argument(
        "--demo",
        type=int,
        default=0,
        metavar="N",
        help=f"also run N simulated Telekom-profile devices (at most {MAX_DEVICES})",
    )
    cmd.add_argument("--bootstrap-config", metavar="FILE", help="also run the bootstrap server")
    cmd.add_argument(
        "--bootstrap-port", type=required_port, default=5783, help="its UDP port (5783)"
    )
    cmd.add_argument(
        "--bootstrap-coaps-port",
        type=port_or_off,
        default=5784,
        help="its DTLS port, 0: off (5784)",
    )
    add_psk_arguments(cmd)
    cmd.add_argument(
        "--oscore",
        action="append",
        default=[],
        metavar="ENDPOINT:SENDERID:RECIPIENTID:MASTERSECRET",
        help="a device's OSCORE context, in hex, the server's Sender ID first (repeat for"
        " several; needs a --db file, where sequence numbers are kept; visible to every local"
        f" user: prefer --oscore-file or {OSCORE_ENV}, one such line each)",
    )
    cmd.add_argument(
        "--oscore-file", metavar="FILE", help="OSCORE contexts as --oscore takes them, one a line"
    )
    cmd.add_argument(
        "--db",
        metavar="FILE",
        default="var/lwm2m.db",
        help="SQLite file that keeps registrations, observations and queues across restarts;"
        " :memory: keeps nothing (var/lwm2m.db)",
    )
    cmd.add_argument(
        "--store",
        metavar="URL",
        help="keep them in Redis instead of --db, shared with other servers:"
        " redis://HOST:PORT/DB or redis+cluster://HOST:PORT, ?prefix=NAME for the keys"
        " (lwm2m); docs/storage.md",
    )
    cmd.add_argument(
        "--durability",
        choices=("strict", "relaxed"),
        default="strict",
        help="strict: answer a Register, Update, Send... once the database has committed it;"
        " relaxed: at once, a crash losing the last 0.1 s of changes (strict)",
    )
    cmd.add_argument(
        "--models",
        action="append",
        default=[],
        metavar="DIR",
        help="object definitions (DDF XML files, or a folder of them) beyond the OMA registry's;"
        " they replace earlier ones of the same object (repeatable)",
    )
    timers = cmd.add_argument_group("the Telekom profile's timer rules, docs/compliance.md")
    timers.add_argument(
        "--enforce-timer-rules",
        action="store_true",
        help="refuse a Write-Attributes whose pmin/pmax break a timer rule (REST 400) instead of"
        " only reporting it",
    )
    timers.add_argument(
        "--read-timer-objects",
        action="store_true",
        help="read /10 and /11 after each Register that lists them, to check the timer rules"
        " against the device's PSM, eDRX and rate control (two requests per registration)",
    )
    add_cellular_arguments(cmd)
    add_server_arguments(cmd)
    add_northbound_arguments(cmd)
    add_cluster_arguments(cmd)
    cmd.set_defaults(handler=run_server)


def run_server(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    check_cluster_arguments(args)
    if args.workers > 1:
        run_workers(args, stdout)
        return
    stop_logging = configure_logging(args.log_level, args.log_format)
    tune_garbage_collector()
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_serve(args, stdout))
    finally:
        stop_logging()


async def _serve(args: argparse.Namespace, stdout: BinaryIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if not 0 <= args.demo <= MAX_DEVICES:
        raise InputError(f"--demo takes 0 to {MAX_DEVICES} devices")
    if args.max_event_streams < 1:
        raise InputError("--max-event-streams takes at least 1")
    northbound = northbound_options(args)
    token = auth_token(args)
    refuse_open_http(args, token, f"set {AUTH_TOKEN_ENV} or --auth-file")
    models = load_models(args.models)
    try:
        store = await open_any_store(args.store or args.db, args.durability)
    except StoreError as exc:
        raise InputError(str(exc)) from None
    # With a database, credentials and bootstrap configurations live there too (--psk, --oscore
    # and --bootstrap-config entries are added to it); with :memory: they last as long as we do.
    database = store if isinstance(store, SqliteStore | RedisStore) else None
    credentials = load_credentials(args, into=database.credentials if database else None)
    configs: ConfigStore | None = None
    if args.bootstrap_config:
        configs = database.bootstrap_configs if database else ConfigStore()
        for endpoint, entry in load_configs(args.bootstrap_config):
            configs.put(endpoint, entry)
    firmware = server_delivery(args, store)
    server = LwM2MServer(
        ServerConfig(
            host=args.host,
            coap_port=args.coap_port,
            coaps_port=args.coaps_port,
            tcp_port=args.tcp_port,
            tls_port=args.tls_port,
            durability=args.durability,
            nidd=nidd_settings(args),
            sms=sms_settings(args),
            wake=wake_settings(args),
            enforce_timer_rules=args.enforce_timer_rules,
            read_timer_objects=args.read_timer_objects,
            resources=(firmware.coap_resource,),
            reuse_port=args.reuse_port,
        ),
        credentials=credentials,
        store=store,
        oscore=_oscore(args, database),
        models=models,
    )
    firmware.attach(server)
    LifecycleLog(server)  # subscribed for as long as the server lives
    campaigns = server_campaigns(firmware, store)
    hub = EventHub(server, max_subscribers=args.max_event_streams)
    campaigns.subscribe(hub.publish)  # campaign events on /api/events too
    web = WebServer(
        server,
        host=args.http_host,
        port=args.http_port,
        log_level=args.log_level,
        access_log=args.access_log,
        auth=token,
        extra_routes=[
            *(bootstrap_routes(configs) if configs is not None else ()),
            *firmware_routes(firmware),
            *campaign_routes(campaigns),
        ],
        allowed_hosts=allowed_hosts(args),
        events=hub,
        store=store,
    )
    cluster = await join_cluster(args, store, server)  # decides which stored devices are ours
    if cluster is not None:
        cluster.relay.listen(hub.relay)
    try:
        await server.start()
    except OSError as exc:
        ports = ", ".join(
            f"{kind} {port}"
            for kind, port in (
                ("udp", args.coap_port),
                ("udp", args.coaps_port),
                ("tcp", args.tcp_port),
                ("tcp", args.tls_port),
            )
            if port is not None
        )
        raise InputError(f"cannot listen on {args.host} ({ports}): {exc}") from None
    try:
        await campaigns.start()  # the stored ones go on
        try:
            await web.start()
        except OSError as exc:
            where = f"{args.http_host}:{args.http_port}"
            raise InputError(f"cannot listen on tcp {where}: {exc}") from None
        coap_host, coap_port = server.coap_address[:2]
        stdout.write(
            f"LwM2M server on {_listener_uris(server, coap_host)} ({len(credentials)} PSKs)\n"
            f"console on {web.url}/\n"
            f"REST API on {web.url}/api/clients, events on {web.url}/api/events\n".encode()
        )
        stdout.flush()
        async with contextlib.AsyncExitStack() as services:
            await services.enter_async_context(northbound_services(northbound, server, stdout))
            if configs is not None:
                config = BootstrapServerConfig(
                    host=args.host,
                    coap_port=args.bootstrap_port,
                    coaps_port=args.bootstrap_coaps_port,
                )
                service = bootstrap_service(configs, config, credentials, stdout)
                await services.enter_async_context(service)
                stdout.write(f"bootstrap REST API on {web.url}/api/bootstrap\n".encode())
                stdout.flush()
            if args.demo:
                local = "127.0.0.1" if coap_host in ("0.0.0.0", "::") else coap_host
                await services.enter_async_context(
                    demo_devices(args.demo, f"coap://{local}:{coap_port}")
                )
                stdout.write(f"{args.demo} simulated devices registering\n".encode())
                stdout.flush()
            await stop.wait()
    finally:
        await campaigns.stop()
        await web.stop()
        await server.stop()
        await close_cluster(cluster)
        firmware.repository.close()
        await close_store(store)


def _listener_uris(server: LwM2MServer, host: str) -> str:
    """The listeners that are on, for the banner."""
    uris = []
    for scheme, address in (
        ("coap", "coap_address"),
        ("coaps", "coaps_address"),
        ("coap+tcp", "tcp_address"),
        ("coaps+tcp", "tls_address"),
    ):
        with contextlib.suppress(RuntimeError):  # that listener is off
            uris.append(f"{scheme}://{host}:{getattr(server, address)[1]}")
    return ", ".join(uris)


def _oscore(
    args: argparse.Namespace, database: SqliteStore | RedisStore | None
) -> OscoreServerContexts:
    """The contexts the database keeps (REST changes go there too), with the ``--oscore`` ones
    added to it; without a database only REST ones, forgotten at exit."""
    specs = spec_lines(
        args.oscore, "--oscore", args.oscore_file, OSCORE_ENV, file_option="--oscore-file"
    )
    if specs and database is None:
        raise InputError("--oscore needs a --db file: sequence numbers must survive restarts")
    credentials = []
    for spec, where in specs:
        try:
            credentials.append(OscoreCredential.parse(spec))
        except ValueError as exc:  # the messages never quote the secret
            raise InputError(f"{where}: {exc}") from None
    if database is None:
        return OscoreServerContexts()
    for credential in credentials:
        try:
            if database.oscore.get(credential.endpoint) != credential:
                database.oscore.set(credential)
        except ValueError as exc:
            raise InputError(f"OSCORE context of {credential.endpoint!r}: {exc}") from None
    return database.oscore
