"""``lwm2m server``: the LwM2M server (CoAP over UDP and DTLS) and its REST API in one event
loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
from typing import BinaryIO
from urllib.parse import quote, urlsplit

from lwm2m.bootstrap import BootstrapServerConfig, ConfigStore
from lwm2m.cli.bootstrap import add_psk_arguments, bootstrap_service, load_configs, load_credentials
from lwm2m.cli.demo import MAX_DEVICES, demo_devices
from lwm2m.cli.firmware import add_server_arguments, server_delivery
from lwm2m.cli.options import (
    add_allowed_hosts_argument,
    allowed_hosts,
    any_port,
    port_or_off,
    required_port,
)
from lwm2m.cli.payload import InputError
from lwm2m.cli.secret_options import (
    OSCORE_ENV,
    add_auth_arguments,
    auth_token,
    single_secret,
    spec_lines,
)
from lwm2m.security.credentials import OscoreCredential
from lwm2m.security.oscore_endpoint import OscoreServerContexts
from lwm2m.server import LwM2MServer, ServerConfig
from lwm2m.server.runtime import event_loop_factory, tune_garbage_collector
from lwm2m.server.waking import WakeMode, WakePolicy, WakeSettings
from lwm2m.storage import RedisStore, SqliteStore, StoreError, close_store, open_any_store
from lwm2m.transport.nidd.settings import NiddSettings
from lwm2m.transport.sms.settings import SmppSettings
from lwm2m.web.bootstrap_api import bootstrap_routes
from lwm2m.web.events import DEFAULT_MAX_SUBSCRIBERS, EventHub
from lwm2m.web.firmware_api import firmware_routes
from lwm2m.web.serving import WebServer

LOG_LEVELS = ("debug", "info", "warning", "error")


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "run the LwM2M server with its REST API until SIGINT or SIGTERM"
    cmd = subparsers.add_parser("server", help=helptext, description=helptext)
    cmd.add_argument("--host", default="0.0.0.0", help="address for CoAP and HTTP (0.0.0.0)")
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
    cmd.add_argument("--log-level", choices=LOG_LEVELS, default="info")
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
    nidd = cmd.add_argument_group("NIDD (binding N) through a 3GPP T8 SCEF/NEF, docs/nidd.md")
    nidd.add_argument("--nidd", metavar="URL", help="the SCEF's T8 API root, http://HOST:PORT")
    nidd.add_argument("--nidd-scs-as-id", default="lwm2m", metavar="ID", help="scsAsId (lwm2m)")
    nidd.add_argument(
        "--nidd-token",
        metavar="T",
        help=f"secret in the notification URLs (default: ${NIDD_TOKEN_ENV}, else random);"
        f" the SCEF's own bearer token, if it wants one, comes from ${T8_TOKEN_ENV}",
    )
    nidd.add_argument(
        "--nidd-callback-url",
        metavar="URL",
        help="where the SCEF reaches this server's /t8 routes (http://HOST:HTTP-PORT/t8; add"
        " HOST to --allowed-hosts)",
    )
    sms = cmd.add_argument_group("SMS (binding S) and SMS triggers through an SMSC, docs/sms.md")
    sms.add_argument(
        "--smpp",
        metavar="URL",
        help="the SMSC, smpp://SYSTEM_ID@HOST[:PORT] (port 2775); the password from"
        f" --smpp-password-file or ${SMPP_PASSWORD_ENV} (in the URL, every local user sees it)",
    )
    sms.add_argument(
        "--smpp-password-file", metavar="FILE", help="the SMPP password (its first line)"
    )
    sms.add_argument(
        "--smpp-source-addr",
        metavar="MSISDN",
        default="",
        help="the number devices see SMS from (their LwM2M Server SMS Number, /0/x/9)",
    )
    wake = cmd.add_argument_group("waking sleeping queue-mode devices (SMS or T8 trigger)")
    wake.add_argument(
        "--wake",
        choices=[mode.value for mode in WakeMode],
        default=WakeMode.TRIGGER.value,
        help="trigger: a request queued for a device with an sms= number or a NIDD identity"
        " sends one trigger; wait: requests wait for the device (trigger)",
    )
    wake.add_argument(
        "--wake-max-per-hour",
        type=int,
        default=WakePolicy().max_per_hour,
        metavar="N",
        help=f"wake a device at most N times an hour ({WakePolicy().max_per_hour})",
    )
    add_server_arguments(cmd)
    cmd.set_defaults(handler=run_server)


NIDD_TOKEN_ENV = "LWM2M_NIDD_TOKEN"
T8_TOKEN_ENV = "LWM2M_T8_TOKEN"
SMPP_PASSWORD_ENV = "LWM2M_SMPP_PASSWORD"


def _sms_settings(args: argparse.Namespace) -> SmppSettings | None:
    """``--smpp``'s settings, the password from the URL, a file or the environment (one)."""
    if args.smpp is None:
        return None
    parts = urlsplit(args.smpp)
    found = single_secret(
        parts.password,
        "--smpp's password",
        args.smpp_password_file,
        SMPP_PASSWORD_ENV,
        file_option="--smpp-password-file",
        what="the SMPP password",
    )
    if found is None:
        raise InputError(f"--smpp needs a password: --smpp-password-file or ${SMPP_PASSWORD_ENV}")
    url = args.smpp
    if parts.password is None:
        where = parts.netloc.rsplit("@", 1)[-1]
        url = parts._replace(netloc=f"{parts.username}:{quote(found[0], safe='')}@{where}").geturl()
    try:
        return SmppSettings.parse(url, source=args.smpp_source_addr)
    except ValueError as exc:  # never quotes the password
        raise InputError(f"--smpp: {exc}") from None


def _wake_settings(args: argparse.Namespace) -> WakeSettings:
    try:
        policy = WakePolicy(WakeMode(args.wake), max_per_hour=args.wake_max_per_hour)
    except ValueError as exc:
        raise InputError(f"--wake-max-per-hour: {exc}") from None
    return WakeSettings(default=policy)


def _nidd_settings(args: argparse.Namespace) -> NiddSettings | None:
    """``--nidd``'s settings; the callback URL defaults to this server's HTTP port."""
    if args.nidd is None:
        return None
    callback = args.nidd_callback_url
    if callback is None:
        if args.http_port == 0:
            raise InputError("--nidd with --http-port 0 needs --nidd-callback-url")
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        callback = f"http://{host}:{args.http_port}/t8"
    token = args.nidd_token or os.environ.get(NIDD_TOKEN_ENV) or secrets.token_urlsafe(24)
    try:
        return NiddSettings(
            url=args.nidd,
            callback_url=callback,
            token=token,
            scs_as_id=args.nidd_scs_as_id,
            t8_token=os.environ.get(T8_TOKEN_ENV),
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None


def run_server(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    tune_garbage_collector()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(_serve(args, stdout))


async def _serve(args: argparse.Namespace, stdout: BinaryIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if not 0 <= args.demo <= MAX_DEVICES:
        raise InputError(f"--demo takes 0 to {MAX_DEVICES} devices")
    if args.max_event_streams < 1:
        raise InputError("--max-event-streams takes at least 1")
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
            nidd=_nidd_settings(args),
            sms=_sms_settings(args),
            wake=_wake_settings(args),
            enforce_timer_rules=args.enforce_timer_rules,
            read_timer_objects=args.read_timer_objects,
            resources=(firmware.coap_resource,),
        ),
        credentials=credentials,
        store=store,
        oscore=_oscore(args, database),
    )
    firmware.attach(server)
    web = WebServer(
        server,
        host=args.host,
        port=args.http_port,
        log_level=args.log_level,
        auth=auth_token(args),
        extra_routes=[
            *(bootstrap_routes(configs) if configs is not None else ()),
            *firmware_routes(firmware),
        ],
        allowed_hosts=allowed_hosts(args),
        events=EventHub(server, max_subscribers=args.max_event_streams),
        store=store,
    )
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
        try:
            await web.start()
        except OSError as exc:
            raise InputError(f"cannot listen on tcp {args.host}:{args.http_port}: {exc}") from None
        coap_host, coap_port = server.coap_address[:2]
        stdout.write(
            f"LwM2M server on {_listener_uris(server, coap_host)} ({len(credentials)} PSKs)\n"
            f"console on {web.url}/\n"
            f"REST API on {web.url}/api/clients, events on {web.url}/api/events\n".encode()
        )
        stdout.flush()
        async with contextlib.AsyncExitStack() as services:
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
        await web.stop()
        await server.stop()
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
