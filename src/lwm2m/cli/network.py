"""``lwm2m network``: the emulated operator network (modems over AT on TCP, the SCEF's T8
APIs over HTTP, optionally the SMSC over SMPP 3.4) until SIGINT or SIGTERM. See
docs/network.md."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import BinaryIO

from lwm2m.cli.logs import add_log_arguments, configure_logging
from lwm2m.cli.payload import InputError
from lwm2m.cli.secret_options import single_secret, spec_lines
from lwm2m.network.service import NetworkService, ServiceConfig
from lwm2m.network.sims import Hss, SimError, generate_sims, load_sims
from lwm2m.network.smsc import SmscConfig
from lwm2m.network.timers import GrantPolicy
from lwm2m.network.ue import NetworkConfig, RateControl
from lwm2m.security.credentials import Secret
from lwm2m.transport.sms.settings import MAX_PASSWORD, MAX_SYSTEM_ID

T8_TOKEN_ENV = "LWM2M_T8_TOKEN"
SMPP_ACCOUNTS_ENV = "LWM2M_SMPP_ACCOUNTS"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "run an emulated NB-IoT operator network: AT modems over TCP, T8 APIs over HTTP"
    cmd = subparsers.add_parser("network", help=helptext, description=helptext)
    cmd.add_argument(
        "--sims",
        default="10",
        metavar="FILE|N",
        help='SIMs: a JSON list of {"imsi", "msisdn", "externalId"}, or a count (10)',
    )
    cmd.add_argument(
        "--domain", default="nidd.example.com", help="external identifier domain of generated SIMs"
    )
    cmd.add_argument("--host", default="127.0.0.1", help="address for both ports (127.0.0.1)")
    cmd.add_argument("--at-port", type=int, default=5000, help="TCP port for modems, 0: any")
    cmd.add_argument("--t8-port", type=int, default=8091, help="HTTP port for T8, 0: any")
    cmd.add_argument(
        "--t8-token",
        help=f"bearer token every T8 request must carry (readable by every local user: "
        f"prefer --t8-token-file or {T8_TOKEN_ENV})",
    )
    cmd.add_argument("--t8-token-file", metavar="FILE", help="the T8 token on its first line")
    cmd.add_argument(
        "--time-scale", type=float, default=1.0, help="emulated seconds per real second (1)"
    )
    cmd.add_argument("--apn", default="nidd", help="APN of the Non-IP PDN (nidd)")
    cmd.add_argument("--max-packet-size", type=int, default=1358, help="octets (1358)")
    cmd.add_argument(
        "--inactivity",
        type=float,
        default=20.0,
        help="seconds before an idle RRC connection is released (20)",
    )
    cmd.add_argument("--buffer-limit", type=int, default=16, help="MT packets per UE (16)")
    cmd.add_argument(
        "--buffer-time",
        type=float,
        default=86400.0,
        help="seconds MT data waits without maximumLatency (86400)",
    )
    cmd.add_argument("--no-psm", action="store_true", help="refuse PSM requests")
    cmd.add_argument("--no-edrx", action="store_true", help="refuse eDRX requests")
    cmd.add_argument(
        "--t3412",
        default="60:35712000",
        metavar="MIN:MAX",
        help="granted periodic TAU range in seconds",
    )
    cmd.add_argument(
        "--t3324", default="0:11160", metavar="MIN:MAX", help="granted active time range in seconds"
    )
    cmd.add_argument(
        "--edrx",
        default="20.48:10485.76",
        metavar="MIN:MAX",
        help="granted eDRX cycle range in seconds",
    )
    cmd.add_argument("--ptw", type=float, default=10.24, help="paging time window, s (10.24)")
    cmd.add_argument(
        "--apn-rate",
        metavar="N/UNIT",
        help="APN rate control: N uplink messages per minute|hour|day|week",
    )
    cmd.add_argument(
        "--exception-reports",
        action="store_true",
        help="exception data may exceed APN rate control",
    )
    cmd.add_argument(
        "--plmn-rate",
        type=int,
        metavar="N",
        help="serving-PLMN rate control: N uplink messages per 6 minutes",
    )
    _add_sms_arguments(cmd)
    add_log_arguments(cmd)  # the one log format (cli/logs.py), uvicorn's T8 API included
    cmd.set_defaults(handler=run_network)


def _add_sms_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--smpp-port", type=int, help="TCP port of the SMSC's SMPP 3.4 face, 0: any")
    cmd.add_argument(
        "--smpp-account",
        action="append",
        default=[],
        metavar="SYSTEM_ID:PASSWORD",
        help=f"an ESME account, repeatable (readable by every local user: prefer "
        f"--smpp-account-file or {SMPP_ACCOUNTS_ENV}, one account a line)",
    )
    cmd.add_argument("--smpp-account-file", metavar="FILE", help="ESME accounts, one a line")
    cmd.add_argument(
        "--smpp-throttle", type=int, metavar="N", help="submit_sm per second and session"
    )
    cmd.add_argument(
        "--smsc-address", default="491700000000", help="the SMSC's number (491700000000)"
    )
    cmd.add_argument(
        "--sms-validity",
        type=float,
        default=86400.0,
        help="seconds an SMS waits for its UE without a validity period (86400)",
    )
    cmd.add_argument("--sms-queue", type=int, default=16, help="MT SMS queued per UE (16)")


def _range(text: str, name: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise InputError(f"{name}: MIN:MAX in seconds") from None
    return low, high


def network_config(args: argparse.Namespace) -> NetworkConfig:
    """The network's settings from the command line; InputError names a bad one."""
    t3412, t3324, edrx = (
        _range(args.t3412, "--t3412"),
        _range(args.t3324, "--t3324"),
        _range(args.edrx, "--edrx"),
    )
    apn_max = apn_unit = None
    if args.apn_rate:
        count, _, unit = args.apn_rate.partition("/")
        if not count.isdigit():
            raise InputError("--apn-rate: N/UNIT, e.g. 10/hour")
        apn_max, apn_unit = int(count), unit
    try:
        policy = GrantPolicy(
            psm=not args.no_psm,
            t3412_min=int(t3412[0]),
            t3412_max=int(t3412[1]),
            t3324_min=int(t3324[0]),
            t3324_max=int(t3324[1]),
            edrx=not args.no_edrx,
            edrx_min=edrx[0],
            edrx_max=edrx[1],
            ptw=args.ptw,
        )
        rate = RateControl(apn_max, apn_unit, args.exception_reports, args.plmn_rate)
        return NetworkConfig(
            policy=policy,
            rate=rate,
            apn=args.apn,
            inactivity=args.inactivity,
            max_packet_size=args.max_packet_size,
            buffer_limit=args.buffer_limit,
            buffer_time=args.buffer_time,
            smsc_address=args.smsc_address,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None


def smsc_config(args: argparse.Namespace) -> SmscConfig:
    """The SMSC's settings; InputError for a bad account (never quoting its password), or
    accounts without --smpp-port and the other way round."""
    accounts: dict[str, Secret] = {}
    specs = spec_lines(
        args.smpp_account,
        "--smpp-account",
        args.smpp_account_file,
        SMPP_ACCOUNTS_ENV,
        file_option="--smpp-account-file",
    )
    for spec, where in specs:
        system_id, colon, password = spec.partition(":")
        if not colon or not 0 < len(system_id) <= MAX_SYSTEM_ID or len(password) > MAX_PASSWORD:
            raise InputError(
                f"{where}: SYSTEM_ID:PASSWORD, system_id 1 to {MAX_SYSTEM_ID} characters, "
                f"password at most {MAX_PASSWORD} (SMPP 3.4)"
            )
        if system_id in accounts:
            raise InputError(f"{where}: system_id {system_id} is there twice")
        accounts[system_id] = Secret(password.encode("latin-1", "replace"))
    if (args.smpp_port is None) != (not accounts):
        raise InputError("--smpp-port and ESME accounts (--smpp-account…) come together")
    try:
        return SmscConfig(
            accounts=accounts,
            validity=args.sms_validity,
            queue_limit=args.sms_queue,
            throttle=args.smpp_throttle,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None


def t8_token(args: argparse.Namespace) -> str | None:
    """The T8 bearer token from ``--t8-token``, ``--t8-token-file`` or ``LWM2M_T8_TOKEN``
    (one of them), None for an open T8 API; InputError for an empty one or two sources."""
    found = single_secret(
        args.t8_token,
        "--t8-token",
        args.t8_token_file,
        T8_TOKEN_ENV,
        file_option="--t8-token-file",
        what="the T8 token",
    )
    return None if found is None else found[0]


def load_hss(args: argparse.Namespace) -> Hss:
    try:
        if args.sims.isdigit():
            return Hss(generate_sims(int(args.sims), args.domain))
        return Hss(load_sims(Path(args.sims)))
    except SimError as exc:
        raise InputError(str(exc)) from None


def run_network(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    hss, config, sms = load_hss(args), network_config(args), smsc_config(args)
    if args.time_scale <= 0:
        raise InputError("--time-scale must be positive")
    service_config = ServiceConfig(
        host=args.host,
        at_port=args.at_port,
        t8_port=args.t8_port,
        t8_token=t8_token(args),
        smpp_port=args.smpp_port,
        time_scale=args.time_scale,
        log_level=args.log_level,
        access_log=args.access_log,
    )
    stop_logging = configure_logging(args.log_level, args.log_format)
    try:
        asyncio.run(_serve(NetworkService(hss, config, service_config, sms), stdout))
    finally:
        stop_logging()


async def _serve(service: NetworkService, stdout: BinaryIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await service.start()
    except OSError as exc:
        raise InputError(f"cannot listen: {exc}") from None
    try:
        host, port = service.at_address
        stdout.write(
            f"{len(service.network.hss)} SIMs; modems: AT over tcp {host}:{port}; "
            f"T8: {service.t8_url}/3gpp-nidd/v1 (and /3gpp-device-triggering/v1, "
            f"/3gpp-monitoring-event/v1); status: {service.t8_url}/api/network\n".encode()
        )
        if service.config.smpp_port is not None:
            host, port = service.smpp_address
            stdout.write(f"SMSC: SMPP 3.4 over tcp {host}:{port}\n".encode())
        stdout.flush()
        await stop.wait()
    finally:
        await service.stop()
