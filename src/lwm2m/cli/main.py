"""Entry point of the ``lwm2m`` command.

Options come from the command line, ``LWM2M_*`` variables and a TOML file
(:mod:`lwm2m.cli.config`).  No command ends in a traceback for what a user does to it: Ctrl-C
exits with status 130, a closed pipe (``lwm2m decode ... | head``) with 141, quietly.
"""

from __future__ import annotations

import argparse
import os
import sys

from lwm2m import __version__
from lwm2m.cli import bench, bootstrap, campaign, check, client, firmware, network, payload, server
from lwm2m.cli.config import add_config_argument, parse_layered
from lwm2m.cli.payload import InputError

INTERRUPTED = 130
"""128 + SIGINT, as a shell reports a command Ctrl-C ended."""
BROKEN_PIPE = 141
"""128 + SIGPIPE: whoever read our output stopped reading."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwm2m", description="OMA LwM2M 1.1 device management for cellular IoT"
    )
    parser.add_argument("--version", action="version", version=f"lwm2m {__version__}")
    add_config_argument(parser)
    subparsers = parser.add_subparsers(dest="command", required=True)
    payload.add_commands(subparsers)
    server.add_commands(subparsers)
    client.add_commands(subparsers)
    bootstrap.add_commands(subparsers)
    bench.add_commands(subparsers)
    check.add_commands(subparsers)
    network.add_commands(subparsers)
    firmware.add_commands(subparsers)
    campaign.add_commands(subparsers)
    for command in subparsers.choices.values():
        add_config_argument(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        # Python would report the failed flush of stdout again at exit: point it at nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE


def _run(argv: list[str]) -> int:
    try:
        args = parse_layered(build_parser(), argv, os.environ)
    except InputError as exc:
        print(f"lwm2m: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":  # exit status 1 is a verdict there, 2 a failure to check
        return check.run(args)
    return payload.run(args)


if __name__ == "__main__":
    sys.exit(main())
