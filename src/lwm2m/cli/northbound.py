"""``lwm2m server --mqtt`` and ``--nats``: the northbound brokers (docs/northbound.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO

from lwm2m.cli.payload import InputError
from lwm2m.cli.secret_options import single_secret
from lwm2m.northbound.commands import AllowList
from lwm2m.northbound.jetstream import DEFAULT_STREAM, NatsNorthbound
from lwm2m.northbound.messages import Format
from lwm2m.northbound.mqtt import DEFAULT_CLIENT_ID, MqttNorthbound
from lwm2m.northbound.relay import Northbound
from lwm2m.northbound.settings import BrokerSettings
from lwm2m.northbound.spool import DEFAULT_MAX_MESSAGES, Spool
from lwm2m.server import LwM2MServer

MQTT_PASSWORD_ENV = "LWM2M_MQTT_PASSWORD"
NATS_PASSWORD_ENV = "LWM2M_NATS_PASSWORD"


def add_northbound_arguments(cmd: argparse.ArgumentParser) -> None:
    group = cmd.add_argument_group(
        "northbound: events to and commands from MQTT and NATS JetStream, docs/northbound.md"
    )
    group.add_argument(
        "--mqtt",
        metavar="URL",
        help="publish events to mqtt://[USER@]HOST[:PORT] (mqtts:// for TLS); the password from"
        f" --mqtt-password-file or ${MQTT_PASSWORD_ENV} (in the URL, every local user sees it)",
    )
    group.add_argument("--mqtt-password-file", metavar="FILE", help="its password (first line)")
    group.add_argument(
        "--mqtt-client-id",
        default=DEFAULT_CLIENT_ID,
        metavar="ID",
        help=f"the stable client ID the broker keeps our session under ({DEFAULT_CLIENT_ID})",
    )
    group.add_argument(
        "--nats",
        metavar="URL",
        help="publish events to a JetStream stream at nats://[USER@]HOST[:PORT] (tls:// for TLS);"
        f" the password from --nats-password-file or ${NATS_PASSWORD_ENV}",
    )
    group.add_argument("--nats-password-file", metavar="FILE", help="its password (first line)")
    group.add_argument(
        "--nats-stream",
        default=DEFAULT_STREAM,
        metavar="NAME",
        help=f"the stream, created if missing ({DEFAULT_STREAM})",
    )
    group.add_argument(
        "--northbound-format",
        choices=[fmt.value for fmt in Format],
        default=Format.JSON.value,
        help="notifications and Send as JSON keyed by path, or as SenML JSON (json)",
    )
    group.add_argument(
        "--northbound-allow",
        action="append",
        default=[],
        metavar="PATTERN=OPS",
        help="let the brokers command endpoints matching PATTERN (shell-style) with OPS (read,"
        " write, execute, observe or *), e.g. 'sensor-*=read,observe'; repeat for several;"
        " none: commands are off",
    )
    group.add_argument(
        "--northbound-spool",
        metavar="DIR",
        help="where events wait for a broker that is away (the --db file's directory; with"
        " --db :memory: in memory)",
    )
    group.add_argument(
        "--northbound-spool-max",
        type=int,
        default=DEFAULT_MAX_MESSAGES,
        metavar="N",
        help="most events waiting per broker; newer ones are dropped past it"
        f" ({DEFAULT_MAX_MESSAGES})",
    )


@dataclass(frozen=True, slots=True)
class NorthboundOptions:
    mqtt: BrokerSettings | None
    nats: BrokerSettings | None
    allow: AllowList
    fmt: Format
    spool_dir: str | None  # None: in memory
    spool_max: int
    mqtt_client_id: str
    nats_stream: str


def northbound_options(args: argparse.Namespace) -> NorthboundOptions:
    """The flags checked before anything starts (InputError naming the flag)."""
    try:
        allow = AllowList.parse(args.northbound_allow)
    except ValueError as exc:
        raise InputError(f"--northbound-allow: {exc}") from None
    if args.northbound_spool_max < 1:
        raise InputError("--northbound-spool-max takes at least 1")
    spool_dir = args.northbound_spool
    if spool_dir is None and args.db != ":memory:":
        spool_dir = os.path.dirname(args.db) or "."
    return NorthboundOptions(
        _broker(args.mqtt, "mqtt", args.mqtt_password_file, MQTT_PASSWORD_ENV),
        _broker(args.nats, "nats", args.nats_password_file, NATS_PASSWORD_ENV),
        allow,
        Format(args.northbound_format),
        spool_dir,
        args.northbound_spool_max,
        args.mqtt_client_id,
        args.nats_stream,
    )


def _broker(url: str | None, kind: str, file: str | None, env: str) -> BrokerSettings | None:
    if url is None:
        if file is not None:
            raise InputError(f"--{kind}-password-file without --{kind}")
        return None
    try:
        settings = BrokerSettings.parse(url, kind)
    except ValueError as exc:  # never quotes the password
        raise InputError(f"--{kind}: {exc}") from None
    found = single_secret(
        settings.password,
        f"--{kind}'s password",
        file,
        env,
        file_option=f"--{kind}-password-file",
        what=f"the {kind.upper()} password",
    )
    return settings if found is None else settings.with_password(found[0])


@contextlib.asynccontextmanager
async def northbound_services(
    options: NorthboundOptions, server: LwM2MServer, stdout: BinaryIO
) -> AsyncIterator[list[Northbound]]:
    """The configured brokers, publishing from now until the block ends."""
    started: list[Northbound] = []
    try:
        if options.mqtt is not None:
            mqtt = MqttNorthbound(
                server,
                options.mqtt,
                _spool(options, "mqtt"),
                fmt=options.fmt,
                allow=options.allow,
                client_id=options.mqtt_client_id,
            )
            await mqtt.start()
            started.append(mqtt)
            stdout.write(f"events to MQTT {options.mqtt.where}\n".encode())
        if options.nats is not None:
            nats = NatsNorthbound(
                server,
                options.nats,
                _spool(options, "nats"),
                fmt=options.fmt,
                allow=options.allow,
                stream=options.nats_stream,
            )
            await nats.start()
            started.append(nats)
            stdout.write(f"events to NATS {options.nats.where}, stream {nats.stream}\n".encode())
        stdout.flush()
        yield started
    finally:
        for service in reversed(started):
            await service.stop()


def _spool(options: NorthboundOptions, kind: str) -> Spool:
    path = (
        ":memory:" if options.spool_dir is None else f"{options.spool_dir}/northbound-{kind}.spool"
    )
    try:
        return Spool(path, max_messages=options.spool_max)
    except (OSError, ValueError, sqlite3.Error) as exc:
        raise InputError(f"northbound spool {path}: {exc}") from None
