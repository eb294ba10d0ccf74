"""``lwm2m decode`` and ``lwm2m encode``: payload debugging from the shell.

Exit status 0 on success, 1 with one line on stderr for malformed input: never a traceback.
"""

from __future__ import annotations

import argparse
import binascii
import json
import sys
import time
from collections.abc import Iterable
from typing import BinaryIO

from lwm2m.codec import default_codecs
from lwm2m.codec.base import FORMAT_NAMES, Codec, ContentFormat, parse_format
from lwm2m.codec.errors import CodecError
from lwm2m.codec.flat_json import values_from_json, values_to_json
from lwm2m.codec.link import LinkFormatCodec
from lwm2m.model import ModelRegistry, Path, PathError, node_to_values, values_to_node
from lwm2m.model.catalog import add_ddf_files, default_models
from lwm2m.model.ddf import DdfError


class InputError(Exception):
    """Input the user gave us that we cannot use; the message is the one line they see."""


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    formats = ", ".join(FORMAT_NAMES)
    for name, helptext in (
        ("decode", "decode a payload from stdin and print its values as flat JSON"),
        ("encode", "encode flat JSON values from stdin into a payload"),
    ):
        cmd = subparsers.add_parser(name, help=helptext, description=helptext)
        cmd.add_argument("--format", "-f", required=True, help=f"{formats}, or a number")
        cmd.add_argument("--path", "-p", help="the node the payload is for, e.g. /3/0")
        cmd.add_argument("--hex", action="store_true", help="payload as hex text")
        cmd.add_argument(
            "--timestamped", action="store_true", help="SenML/JSON with times (Send, history)"
        )
        cmd.add_argument(
            "--ddf", action="append", default=[], metavar="FILE", help="extra object model"
        )
        cmd.set_defaults(handler=run_decode if name == "decode" else run_encode)


def run_decode(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    codec, models, path = _setup(args)
    data = stdin.read()
    payload = _unhex(data) if args.hex else data
    result: object
    if isinstance(codec, LinkFormatCodec) and path is None:
        result = [link.to_json() for link in codec.decode_links(payload)]
    elif args.timestamped:
        result = [
            {"timestamp": batch.timestamp, "values": values_to_json(batch.values)}
            for batch in codec.decode_timestamped(payload, models)
        ]
    elif path is not None:
        node = codec.decode(payload, path, models)
        result = values_to_json(node_to_values(path, node))
    else:
        result = values_to_json(codec.decode_values(payload, models))
    stdout.write((json.dumps(result, indent=2, ensure_ascii=False) + "\n").encode())


def run_encode(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    codec, models, path = _setup(args)
    text = stdin.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON at byte {exc.pos}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"input is not UTF-8 at byte {exc.start}") from None
    if args.timestamped:
        raise InputError("--timestamped is for decode only")
    values = values_from_json(data, models)
    if path is not None:
        try:
            node = values_to_node(path, values, models.is_multiple)
        except PathError as exc:
            raise InputError(str(exc)) from None
        payload = codec.encode(path, node, models)
    else:
        payload = codec.encode_values(values, models)
    stdout.write(payload.hex().encode() + b"\n" if args.hex else payload)


def load_models(sources: Iterable[str]) -> ModelRegistry:
    """Every OMA registry object and the built-in ones, then the DDF files or folders given."""
    models = default_models()
    for source in sources:
        try:
            add_ddf_files(models, source)
        except (OSError, DdfError) as exc:
            raise InputError(f"cannot load {source}: {exc}") from None
    return models


def _setup(args: argparse.Namespace) -> tuple[Codec, ModelRegistry, Path | None]:
    content_format: ContentFormat = parse_format(args.format)
    codec = default_codecs(time.time).get(content_format)
    models = load_models(args.ddf)
    try:
        path = Path.parse(args.path) if args.path else None
    except PathError as exc:
        raise InputError(str(exc)) from None
    return codec, models, path


def _unhex(data: bytes) -> bytes:
    text = b"".join(data.split())
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        for offset, char in enumerate(text):
            if chr(char) not in "0123456789abcdefABCDEF":
                raise InputError(f"invalid hex digit at offset {offset}") from None
        raise InputError("odd number of hex digits") from None


def run(args: argparse.Namespace) -> int:
    try:
        args.handler(args, sys.stdin.buffer, sys.stdout.buffer)
    except (CodecError, InputError) as exc:
        print(f"lwm2m {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0
