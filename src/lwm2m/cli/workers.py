"""``lwm2m server --workers N`` and ``--node-id``: one machine's cores, or several machines,
serving one fleet through a shared Redis store (:mod:`lwm2m.cluster`, docs/cluster.md).

With ``--workers N`` the command supervises N worker processes, each ``lwm2m server`` with
the same options, ``--node-id NAME-i``, HTTP port ``--http-port + i`` and SO_REUSEPORT on the
CoAP/DTLS/TCP/TLS ports; a worker that dies is started again (its devices are taken over by
the others meanwhile).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import BinaryIO

from lwm2m.cli.payload import InputError
from lwm2m.cluster import ClusterConfig, ClusterNode, NodeIdInUseError
from lwm2m.server import LwM2MServer
from lwm2m.storage import RedisStore

MAX_WORKERS = 64
RESTART_DELAY = 1.0


def add_cluster_arguments(cmd: argparse.ArgumentParser) -> None:
    group = cmd.add_argument_group("a cluster sharing a Redis --store, docs/cluster.md")
    group.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N server processes sharing the ports (SO_REUSEPORT) and the --store, which"
        " must be Redis; worker i serves HTTP on --http-port + i (1)",
    )
    group.add_argument(
        "--node-id",
        metavar="NAME",
        help="join the cluster of the servers on the same Redis --store under this name"
        " (unique; with --workers, the workers are NAME-0, NAME-1...; default: the host name)",
    )
    group.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)


def check_cluster_arguments(args: argparse.Namespace) -> None:
    """Refuse what a cluster cannot do, before anything starts."""
    if not 1 <= args.workers <= MAX_WORKERS:
        raise InputError(f"--workers takes 1 to {MAX_WORKERS}")
    clustered = args.workers > 1 or args.node_id is not None
    if clustered and not args.store:
        raise InputError(
            "--workers and --node-id need --store redis://...: the workers share the fleet"
            " through Redis, and a SQLite file (--db) belongs to one process"
        )
    if clustered and (args.oscore or args.oscore_file):
        raise InputError(
            "--oscore is not supported in a cluster yet: a node taking a device over could"
            " reuse OSCORE nonces (docs/cluster.md)"
        )
    if args.workers > 1 and (args.demo or args.bootstrap_config):
        raise InputError(
            "--demo and --bootstrap-config run with one worker (run the bootstrap server apart:"
            " lwm2m bootstrap)"
        )


def node_id(args: argparse.Namespace) -> str:
    return args.node_id or socket.gethostname()


async def join_cluster(
    args: argparse.Namespace, store: object, server: LwM2MServer
) -> ClusterNode | None:
    """The started cluster node when ``--node-id`` (or a worker's) says so, else None."""
    if args.node_id is None:
        return None
    if not isinstance(store, RedisStore):
        raise InputError("--node-id needs --store redis://...")
    try:
        node = ClusterNode(store, server, ClusterConfig(args.node_id))
        await node.start()
    except (ValueError, NodeIdInUseError) as exc:
        raise InputError(f"--node-id: {exc}") from None
    return node


def run_workers(args: argparse.Namespace, stdout: BinaryIO) -> None:
    """Start ``--workers`` processes and watch them until SIGINT or SIGTERM."""
    base = node_id(args)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    def launch(index: int) -> subprocess.Popen[bytes]:
        http_port = args.http_port + index if args.http_port else 0
        command = [
            sys.executable,
            "-m",
            "lwm2m.cli.main",
            *sys.argv[1:],
            *("--workers", "1", "--node-id", f"{base}-{index}"),
            *("--http-port", str(http_port), "--reuse-port"),
        ]
        return subprocess.Popen(command, stdout=stdout, env=os.environ.copy())

    previous = [signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)]
    workers = {index: launch(index) for index in range(args.workers)}
    stdout.write(f"{args.workers} workers: {base}-0 ... {base}-{args.workers - 1}\n".encode())
    stdout.flush()
    try:
        while not stopping:
            time.sleep(0.2)
            for index, worker in list(workers.items()):
                code = worker.poll()
                if code is not None and not stopping:
                    print(
                        f"worker {base}-{index} exited with {code}; starting it again",
                        file=sys.stderr,
                    )
                    time.sleep(RESTART_DELAY)
                    workers[index] = launch(index)
    finally:
        for worker in workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.send_signal(signal.SIGTERM)
        for worker in workers.values():
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        for signum, handler in zip((signal.SIGINT, signal.SIGTERM), previous, strict=True):
            signal.signal(signum, handler)


async def close_cluster(node: ClusterNode | None) -> None:
    if node is not None:
        await node.close()
