"""Options shared by the ``lwm2m server`` and ``lwm2m bootstrap`` commands: port numbers, where
the HTTP API listens and who may reach it by which host name.

HTTP listens on loopback unless ``--http-host`` says otherwise (CoAP keeps ``--host``): an API
that reboots devices is not put on the network by default.  Beyond loopback it needs a token
(``lwm2m server``'s ``--auth-file`` or ``LWM2M_AUTH_TOKEN``), or ``--insecure-http`` to say
that something in front (a reverse proxy, a firewall) does the guarding.

Ports: a CoAP listener that can be turned off takes 0 for off (DTLS, TCP, TLS); the plain UDP
port cannot be (each server needs it) and takes 1..65535; the HTTP port takes 0 for any free
one.  Anything else is refused by the parser, naming the option.
"""

from __future__ import annotations

import argparse
import ipaddress

from lwm2m.cli.payload import InputError
from lwm2m.web.auth import LOOPBACK_HOSTS, normalize_hosts


def port_or_off(text: str) -> int | None:
    """A listener's port, None for 0 (off)."""
    port = _port(text, 0)
    return port or None


def required_port(text: str) -> int:
    """The UDP port a server cannot run without."""
    return _port(text, 1, "; this listener cannot be turned off")


def any_port(text: str) -> int:
    """A port, 0 for any free one (HTTP)."""
    return _port(text, 0)


def _port(text: str, low: int, why: str = "") -> int:
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r:.20} is not a port number {low}..65535{why}")
    return int(text)


DEFAULT_HTTP_HOST = "127.0.0.1"


def add_http_host_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--http-host",
        default=DEFAULT_HTTP_HOST,
        metavar="ADDRESS",
        help=f"address for HTTP ({DEFAULT_HTTP_HOST}); beyond loopback it needs an API token"
        " or --insecure-http",
    )
    cmd.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve HTTP beyond loopback without an API token (something in front guards it)",
    )


def refuse_open_http(args: argparse.Namespace, token: str | None, how: str) -> None:
    """InputError when HTTP would listen beyond loopback with no ``token`` and no
    ``--insecure-http``; ``how`` says how this command gets a token."""
    if token is None and not args.insecure_http and not is_loopback(args.http_host):
        raise InputError(
            f"HTTP on {args.http_host} is reachable from other machines and has no API token:"
            f" {how}, keep --http-host on loopback, or pass --insecure-http if something in"
            " front guards it"
        )


def is_loopback(host: str) -> bool:
    """Whether a bind address only this machine reaches (a name other than localhost may
    resolve to anything)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def add_allowed_hosts_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--allowed-hosts",
        type=_host_list,
        metavar="NAMES",
        help="comma-separated host names the HTTP API answers to, on any port; '*' for any"
        " (default: localhost, 127.0.0.1, [::1] and the --http-host address if it is one)",
    )


def allowed_hosts(args: argparse.Namespace) -> frozenset[str]:
    """``--allowed-hosts``, else the loopback names plus a specific ``--http-host`` address (an
    IP literal cannot be rebound by DNS; a wildcard bind adds nothing)."""
    if args.allowed_hosts is not None:
        hosts: frozenset[str] = args.allowed_hosts
        return hosts
    names = list(LOOPBACK_HOSTS)
    try:
        if not ipaddress.ip_address(args.http_host).is_unspecified:
            names.append(args.http_host)
    except ValueError:
        names.append(args.http_host)  # a host name the operator chose to bind
    return normalize_hosts(names)


def _host_list(text: str) -> frozenset[str]:
    try:
        return normalize_hosts(name for name in text.split(",") if name.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
