"""Options shared by the ``lwm2m server`` and ``lwm2m bootstrap`` commands: port numbers, and
who may reach the HTTP API by which host name.

Ports: a CoAP listener that can be turned off takes 0 for off (DTLS, TCP, TLS); the plain UDP
port cannot be (each server needs it) and takes 1..65535; the HTTP port takes 0 for any free
one.  Anything else is refused by the parser, naming the option.
"""

from __future__ import annotations

import argparse
import ipaddress

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


def add_allowed_hosts_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--allowed-hosts",
        type=_host_list,
        metavar="NAMES",
        help="comma-separated host names the HTTP API answers to, on any port; '*' for any"
        " (default: localhost, 127.0.0.1, [::1] and the --host address if it is one)",
    )


def allowed_hosts(args: argparse.Namespace) -> frozenset[str]:
    """``--allowed-hosts``, else the loopback names plus a specific ``--host`` address (an IP
    literal cannot be rebound by DNS; a wildcard bind adds nothing)."""
    if args.allowed_hosts is not None:
        hosts: frozenset[str] = args.allowed_hosts
        return hosts
    names = list(LOOPBACK_HOSTS)
    try:
        if not ipaddress.ip_address(args.host).is_unspecified:
            names.append(args.host)
    except ValueError:
        names.append(args.host)  # a host name the operator chose to bind
    return normalize_hosts(names)


def _host_list(text: str) -> frozenset[str]:
    try:
        return normalize_hosts(name for name in text.split(",") if name.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
