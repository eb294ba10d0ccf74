"""Options shared by the ``lwm2m server`` and ``lwm2m bootstrap`` commands: who may reach the
HTTP API by which host name."""

from __future__ import annotations

import argparse
import ipaddress

from lwm2m.web.auth import LOOPBACK_HOSTS, normalize_hosts


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
