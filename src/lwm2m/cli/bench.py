"""``lwm2m bench``: a server here and a fleet of simulated devices in other processes.

Prints registrations/s, notifications/s, reads/s with latencies and the server's RSS per
registered client (:mod:`lwm2m.loadtest.runner` says how each is measured), or ``--json``.
``--flood N`` adds a phase: the fleet's reads while new devices flood the server with
Registers at N times the registration rate just measured (:mod:`lwm2m.loadtest.flood`).
``--target coap://HOST:PORT`` and ``--workers N`` register the fleet with a server in other
processes instead (:mod:`lwm2m.loadtest.external`).

While it runs, stderr shows the phase, its rate and the devices registered
(:mod:`lwm2m.loadtest.progress`).  Ctrl-C stops the fleet and the server, says where the bench
was, and exits with 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import BinaryIO

from lwm2m.cli.payload import InputError
from lwm2m.loadtest import TARGETS, BenchConfig, BenchError, BenchReport, Load, run_bench
from lwm2m.loadtest.campaign import run_campaign_bench
from lwm2m.loadtest.external import ExternalConfig, run_external_bench
from lwm2m.loadtest.flood import FLOOD_READ_P99, FloodReport
from lwm2m.loadtest.nidd import run_nidd_bench
from lwm2m.server import LwM2MServer
from lwm2m.web.serving import WebServer


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "measure the server against a fleet of simulated devices on loopback"
    cmd = subparsers.add_parser("bench", help=helptext, description=helptext)
    cmd.add_argument("--clients", type=int, required=True, help="simulated devices")
    cmd.add_argument(
        "--duration", type=float, default=5.0, help="seconds of notifications, then of reads (5)"
    )
    cmd.add_argument("--concurrency", type=int, default=256, help="server requests in flight (256)")
    cmd.add_argument(
        "--db", metavar="FILE", help="keep the server's state in this SQLite file (in memory)"
    )
    cmd.add_argument(
        "--store",
        metavar="URL",
        help="or keep it in Redis (redis://HOST:PORT/DB?prefix=NAME, empty; its keys stay)",
    )
    cmd.add_argument(
        "--durability",
        choices=("strict", "relaxed"),
        default="strict",
        help="with --db or --store: answer once committed (strict) or at once (relaxed)",
    )
    cmd.add_argument(
        "--flood",
        type=float,
        default=0.0,
        metavar="N",
        help="last, read the fleet (32 in flight) while new devices send Registers at N times "
        "the measured registration rate (0: no flood phase)",
    )
    cmd.add_argument(
        "--rest",
        type=int,
        default=0,
        metavar="N",
        help="after the reads, the same reads through the REST API from another process over "
        "N HTTP keep-alive connections (0: no REST phase)",
    )
    cmd.add_argument(
        "--campaign",
        action="store_true",
        help="instead: a firmware campaign, --clients devices pulling a 64 KiB package over"
        " CoAP, --concurrency at once (lwm2m.loadtest.campaign)",
    )
    cmd.add_argument(
        "--nidd",
        choices=("nidd", "udp"),
        help="instead: light devices in a `lwm2m network` process against `lwm2m server --nidd`"
        " over T8 (nidd), or the same devices over UDP (udp) (lwm2m.loadtest.nidd)",
    )
    cmd.add_argument(
        "--target",
        metavar="coap://HOST:PORT",
        help="instead: only register the fleet with this running LwM2M server (any: Leshan,"
        " Wakaama, ours elsewhere); the phases that need our server's API are skipped",
    )
    cmd.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="instead: register the fleet with `lwm2m server --workers N --store ...` run here"
        " (needs --store redis://...), reporting the CPU of its processes (0: no)",
    )
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.set_defaults(handler=run_bench_command)


def run_bench_command(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    if args.campaign:
        _campaign_bench(args, stdout)
        return
    if args.nidd:
        nidd = run_nidd_bench(args.clients, args.duration, udp=args.nidd == "udp")
        text = json.dumps(nidd.to_json(), indent=2) if args.json else "\n".join(nidd.lines())
        stdout.write(text.encode() + b"\n")
        return
    if args.target is not None or args.workers:
        _external_bench(args, stdout)
        return
    try:
        config = BenchConfig(
            args.clients,
            args.duration,
            args.concurrency,
            db=args.db,
            store=args.store,
            durability=args.durability,
            flood=args.flood,
            rest_connections=args.rest,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    try:
        report = run_bench(config, _rest_api, progress=sys.stderr)
    except BenchError as exc:
        raise InputError(str(exc)) from None
    text = json.dumps(report.to_json(), indent=2) if args.json else "\n".join(_lines(report))
    stdout.write(text.encode() + b"\n")


def _external_bench(args: argparse.Namespace, stdout: BinaryIO) -> None:
    try:
        config = ExternalConfig(
            args.clients,
            target=args.target,
            workers=args.workers,
            store=args.store,
            durability=args.durability,
        )
        report = run_external_bench(config, progress=sys.stderr)
    except (ValueError, BenchError) as exc:
        raise InputError(str(exc)) from None
    text = json.dumps(report.to_json(), indent=2) if args.json else "\n".join(report.lines())
    stdout.write(text.encode() + b"\n")


def _rest_api(server: LwM2MServer) -> WebServer:
    """The REST API as ``lwm2m server`` serves it (access log off), on a loopback port."""
    return WebServer(server, host="127.0.0.1", port=0)


def _lines(report: BenchReport) -> list[str]:
    config, meets = report.config, report.meets_targets()

    def row(name: str, load: Load, target: str | None, extra: str = "") -> str:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1e3:.2f}"

        seconds = load.seconds or 1.0
        verdict = ""
        if target is not None:
            verdict = f">= {TARGETS[target]:,.0f} {'ok' if meets[target] else 'BELOW'}"
        return (
            f"{name:<14}{load.per_second:>9,.0f}{load.count:>10,}{load.seconds:>8.2f}"
            f"{ms(load.p50):>8}{ms(load.p99):>8}{load.server_cpu_per_op * 1e6:>9.0f}"
            f"{load.server_cpu / seconds:>7.0%}{load.fleet_cpu / seconds:>7.0%}"
            f"{extra:>10}  {verdict}"
        )

    processes = "process" if report.fleet_processes == 1 else "processes"
    memory = "ok" if meets["bytesPerClient"] else "ABOVE"
    store = report.store
    stored = (
        []
        if store is None
        else [
            f"{f'Redis {config.store}' if config.store else f'SQLite {config.db}'} "
            f"({config.durability}): {store.commits:,} commits, "
            f"{store.mean_commit * 1e3:.2f} ms each on average, write lag at most "
            f"{store.max_write_lag * 1e3:.1f} ms, {store.failed_rows:,} rows refused"
        ]
    )
    return [
        *stored,
        f"{config.clients:,} clients, {report.fleet_processes} fleet {processes} (descriptor limit "
        f"{report.fd_limit:,}), {config.duration:g} s per timed phase, "
        f"{config.concurrency} requests in flight, load average {report.load_average:.2f}",
        f"{'':<14}{'per s':>9}{'count':>10}{'seconds':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'CPU µs':>9}{'server':>7}{'fleet':>7}{'lost':>10}  target",
        row("registrations", report.registrations, "registrations", f"{report.retransmissions:,}"),
        row("observations", report.observations, None, f"{report.observations.failed:,}"),
        row(
            "notifications",
            report.notifications,
            "notifications",
            f"{report.notifications.failed:,}",
        ),
        row("reads", report.reads, "reads", f"{report.reads.failed:,}"),
        *([] if report.rest_reads is None else [row("REST reads", report.rest_reads, None, "")]),
        *([] if report.flood is None else _flood_lines(report.flood, row)),
        f"RSS per registered client {report.bytes_per_client:,.0f} B "
        f"(+{(report.rss_registered - report.rss_before) / 2**20:,.1f} MiB), target <= "
        f"{TARGETS['bytesPerClient']:,.0f} B {memory}; "
        f"{report.bytes_per_observation:,.0f} B more per observation",
        "CPU µs: server CPU per operation; server, fleet: their processes' CPU use in the phase; "
        "lost: retransmitted Registers, failed requests, notifications never received",
    ]


def _flood_lines(flood: FloodReport, row: Callable[[str, Load, str | None, str], str]) -> list[str]:
    registers, reads = flood.flood, flood.reads
    verdict = "ok" if flood.meets_target() else "ABOVE"
    return [
        row("flood reads", reads, None, f"{reads.failed:,}")
        + f"p99 < {FLOOD_READ_P99 * 1e3:.0f} ms {verdict}",
        f"flood: {registers.offered_rate:,.0f} Registers/s for {registers.seconds:.1f} s, "
        f"{flood.offered_multiple:.1f}x the {flood.capacity:,.0f}/s measured (asked "
        f"{flood.multiple:g}x): {registers.sent:,} sent, {registers.created:,} registered, "
        f"{registers.refused:,} refused 5.03 ({registers.refused_without_max_age:,} without "
        f"Max-Age), {registers.unanswered:,} unanswered; "
        f"{'?' if flood.server_drops is None else f'{flood.server_drops:,}'} datagrams dropped "
        "by the kernel at the server's full socket during the reads",
    ]


def _campaign_bench(args: argparse.Namespace, stdout: BinaryIO) -> None:
    if args.clients < 1 or args.concurrency < 1:
        raise InputError("--clients and --concurrency must be positive")
    try:
        report = run_campaign_bench(args.clients, concurrency=args.concurrency)
    except TimeoutError as exc:
        raise InputError(f"the campaign bench did not finish: {exc}") from None
    text = json.dumps(report.to_json(), indent=2) if args.json else "\n".join(report.lines())
    stdout.write(text.encode() + b"\n")
