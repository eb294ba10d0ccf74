"""``lwm2m server``'s options for the cellular carriers: NIDD through a 3GPP T8 SCEF/NEF
(docs/nidd.md), SMS through an SMSC (docs/sms.md), and waking sleeping queue-mode devices by
SMS or T8 trigger; each turned into the settings :class:`~lwm2m.server.ServerConfig` takes."""

from __future__ import annotations

import argparse
import os
import secrets
from urllib.parse import quote, urlsplit

from lwm2m.cli.payload import InputError
from lwm2m.cli.secret_options import single_secret
from lwm2m.server.waking import WakeMode, WakePolicy, WakeSettings
from lwm2m.transport.nidd.settings import NiddSettings
from lwm2m.transport.sms.settings import SmppSettings

NIDD_TOKEN_ENV = "LWM2M_NIDD_TOKEN"
T8_TOKEN_ENV = "LWM2M_T8_TOKEN"
SMPP_PASSWORD_ENV = "LWM2M_SMPP_PASSWORD"


def add_cellular_arguments(cmd: argparse.ArgumentParser) -> None:
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


def sms_settings(args: argparse.Namespace) -> SmppSettings | None:
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


def wake_settings(args: argparse.Namespace) -> WakeSettings:
    try:
        policy = WakePolicy(WakeMode(args.wake), max_per_hour=args.wake_max_per_hour)
    except ValueError as exc:
        raise InputError(f"--wake-max-per-hour: {exc}") from None
    return WakeSettings(default=policy)


def nidd_settings(args: argparse.Namespace) -> NiddSettings | None:
    """``--nidd``'s settings; the callback URL defaults to this server's HTTP port."""
    if args.nidd is None:
        return None
    callback = args.nidd_callback_url
    if callback is None:
        if args.http_port == 0:
            raise InputError("--nidd with --http-port 0 needs --nidd-callback-url")
        host = "127.0.0.1" if args.http_host in ("0.0.0.0", "::") else args.http_host
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
