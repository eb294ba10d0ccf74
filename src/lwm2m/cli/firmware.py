"""``lwm2m firmware``: the server's firmware repository in its database file, and the options
with which ``lwm2m server`` serves it (docs/firmware.md)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Iterator
from typing import BinaryIO

from lwm2m.cli.payload import InputError
from lwm2m.firmware import (
    MAX_PACKAGE_SIZE,
    FirmwareConfig,
    FirmwareDelivery,
    FirmwareError,
    FirmwareRepository,
)
from lwm2m.server.registration import ServerStore
from lwm2m.storage import MEMORY, SqliteStore, StoreError

_DB_HELP = "the server's SQLite file; packages go to FILE.firmware/ beside it (var/lwm2m.db)"
_CHUNK = 64 * 1024


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "manage the server's firmware packages (while it is stopped; else its REST API)"
    cmd = subparsers.add_parser("firmware", help=helptext, description=helptext)
    actions = cmd.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a package file")
    add.add_argument("file", metavar="FILE", type=argparse.FileType("rb"))
    add.add_argument("--version", dest="package_version", required=True, metavar="V")
    add.add_argument("--model", required=True, metavar="M", help="the device model it is for")
    add.add_argument("--signature", type=argparse.FileType("rb"), metavar="FILE")
    add.add_argument("--db", default="var/lwm2m.db", metavar="FILE", help=_DB_HELP)
    add.add_argument(
        "--max-size",
        type=int,
        default=MAX_PACKAGE_SIZE,
        metavar="BYTES",
        help=f"refuse a larger package ({MAX_PACKAGE_SIZE})",
    )
    add.set_defaults(handler=run_add)
    listing = actions.add_parser("list", help="list the packages as JSON lines")
    listing.add_argument("--db", default="var/lwm2m.db", metavar="FILE", help=_DB_HELP)
    listing.set_defaults(handler=run_list)


def add_server_arguments(cmd: argparse.ArgumentParser) -> None:
    """``lwm2m server``'s firmware options."""
    group = cmd.add_argument_group("firmware delivery, docs/firmware.md")
    group.add_argument(
        "--firmware-max-size",
        type=int,
        default=MAX_PACKAGE_SIZE,
        metavar="BYTES",
        help=f"largest package POST /api/firmware takes, 413 beyond ({MAX_PACKAGE_SIZE})",
    )
    group.add_argument(
        "--firmware-host",
        metavar="HOST",
        help="host name devices reach the CoAP ports at, for download URLs (default: --host)",
    )
    group.add_argument(
        "--firmware-http-url",
        metavar="URL",
        help="where devices reach the HTTP port (http://HOST:PORT), for http download URLs",
    )


def server_delivery(args: argparse.Namespace, store: ServerStore) -> FirmwareDelivery:
    """The repository beside ``args.db`` (a temporary one with ``:memory:``) and its
    delivery, from ``lwm2m server``'s options."""
    if args.firmware_max_size < 1:
        raise InputError("--firmware-max-size takes a positive number of bytes")
    try:
        config = FirmwareConfig(public_host=args.firmware_host, http_url=args.firmware_http_url)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if isinstance(store, SqliteStore):
        repository = FirmwareRepository.beside(
            store.path, store.firmware, max_size=args.firmware_max_size
        )
    else:
        repository = FirmwareRepository.temporary(max_size=args.firmware_max_size)
    return FirmwareDelivery(repository, config)


def run_add(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    signature = args.signature.read() if args.signature is not None else None
    if args.max_size < 1:
        raise InputError("--max-size takes a positive number of bytes")
    with _opened(args.db, create=True) as store:
        repository = FirmwareRepository.beside(store.path, store.firmware, max_size=args.max_size)
        try:
            with repository.upload() as upload:
                while chunk := args.file.read(_CHUNK):
                    upload.write(chunk)
                package, created = repository.add(
                    upload, version=args.package_version, model=args.model, signature=signature
                )
        except FirmwareError as exc:
            raise InputError(str(exc)) from None
        finally:
            repository.close()
    stdout.write(json.dumps({**package.to_json(), "created": created}).encode() + b"\n")


def run_list(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    with _opened(args.db, create=False) as store:
        packages = store.firmware.all()
    for package in packages:
        stdout.write(json.dumps(package.to_json()).encode() + b"\n")


@contextlib.contextmanager
def _opened(path: str, *, create: bool) -> Iterator[SqliteStore]:
    """The database, closed (its writes committed) at the end."""
    if path == MEMORY:
        raise InputError("--db must be a file: :memory: keeps no packages")
    if not create and not os.path.exists(path):
        raise InputError(f"{path} does not exist")
    try:
        store = SqliteStore(path)
    except StoreError as exc:
        raise InputError(f"{exc} (while it runs, use POST /api/firmware)") from None
    try:
        yield store
    finally:
        store.close()
