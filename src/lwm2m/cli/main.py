"""Entry point of the ``lwm2m`` command."""

from __future__ import annotations

import argparse
import sys

from lwm2m import __version__
from lwm2m.cli import bench, bootstrap, campaign, check, client, firmware, network, payload, server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwm2m", description="OMA LwM2M 1.1 device management for cellular IoT"
    )
    parser.add_argument("--version", action="version", version=f"lwm2m {__version__}")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check":  # exit status 1 is a verdict there, 2 a failure to check
        return check.run(args)
    return payload.run(args)


if __name__ == "__main__":
    sys.exit(main())
