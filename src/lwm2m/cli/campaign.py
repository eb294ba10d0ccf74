"""``lwm2m campaign``: firmware campaigns on a running server, through its REST API
(docs/firmware.md, "Campaigns"); and the campaigns ``lwm2m server`` runs."""

from __future__ import annotations

import argparse
import json
from typing import Any, BinaryIO

import httpx

from lwm2m.cli.payload import InputError
from lwm2m.cli.secret_options import AUTH_TOKEN_ENV, single_secret
from lwm2m.firmware import FirmwareDelivery
from lwm2m.firmware.campaign import MemoryCampaignStore
from lwm2m.firmware.campaign_runner import CampaignRunner
from lwm2m.server.registration import ServerStore


def server_campaigns(delivery: FirmwareDelivery, store: ServerStore) -> CampaignRunner:
    """The campaigns of ``lwm2m server``: kept in the database when it has a campaign store
    (SQLite), else for the life of the process."""
    kept = getattr(store, "campaigns", None)
    return CampaignRunner(delivery, kept if kept is not None else MemoryCampaignStore())


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "firmware campaigns on a running server (its REST API)"
    cmd = subparsers.add_parser("campaign", help=helptext, description=helptext)
    cmd.add_argument(
        "--server",
        default="http://127.0.0.1:8080",
        metavar="URL",
        help="the server's REST API (http://127.0.0.1:8080)",
    )
    cmd.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"the API token (its first line); or ${AUTH_TOKEN_ENV}",
    )
    actions = cmd.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="start a campaign; prints it as JSON")
    create.add_argument("--package", required=True, metavar="SHA256", help="from the repository")
    target = create.add_argument_group("target: endpoints, or a filter of registered devices")
    target.add_argument("--endpoint", action="append", default=[], metavar="EP", help="repeat")
    target.add_argument("--endpoints-file", metavar="FILE", help="endpoint names, one a line")
    target.add_argument("--manufacturer", help="/3/0/0 must be this")
    target.add_argument("--model", help="/3/0/1 must be this")
    target.add_argument("--firmware-version", help="/3/0/3 must be this")
    target.add_argument("--binding", help="the registration's binding contains these letters")
    create.add_argument("--name", default="")
    create.add_argument("--method", choices=("auto", "pull", "push"), default="auto")
    create.add_argument("--scheme", default="coap", help="of pull URLs (coap)")
    create.add_argument(
        "--waves", default="", metavar="N,N,...", help="sizes of the first waves, the rest last"
    )
    create.add_argument("--concurrency", type=int, default=10, help="devices at once (10)")
    create.add_argument(
        "--device-timeout", type=float, default=600.0, metavar="S", help="per attempt (600)"
    )
    create.add_argument("--retries", type=int, default=1, help="attempts after the first (1)")
    create.add_argument(
        "--failure-threshold",
        type=float,
        default=0.2,
        metavar="SHARE",
        help="pause when more than this share of finished devices failed (0.2)",
    )
    create.add_argument(
        "--failure-minimum", type=int, default=10, metavar="N", help="...of at least N (10)"
    )
    create.set_defaults(handler=run_create)
    actions.add_parser("list", help="the campaigns, JSON lines").set_defaults(handler=run_list)
    show = actions.add_parser("show", help="one campaign with its devices as JSON")
    show.add_argument("id")
    show.add_argument("--state", help="only the devices in this state (failed, ...)")
    show.set_defaults(handler=run_show)
    for action in ("pause", "resume", "cancel"):
        step = actions.add_parser(action, help=f"{action} a campaign")
        step.add_argument("id")
        step.set_defaults(handler=run_step)


def run_create(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    endpoints = list(args.endpoint)
    if args.endpoints_file:
        with open(args.endpoints_file, encoding="utf-8") as lines:
            endpoints += [line.strip() for line in lines if line.strip()]
    filters = {
        "manufacturer": args.manufacturer,
        "model": args.model,
        "firmwareVersion": args.firmware_version,
        "binding": args.binding,
    }
    target = (
        {"endpoints": endpoints}
        if endpoints
        else {key: value for key, value in filters.items() if value is not None}
    )
    try:
        waves = [int(size) for size in args.waves.split(",") if size.strip()]
    except ValueError:
        raise InputError("--waves takes sizes separated by commas, e.g. 10,100") from None
    body = {
        "name": args.name,
        "package": args.package,
        "target": target,
        "method": args.method,
        "scheme": args.scheme,
        "waves": waves,
        "concurrency": args.concurrency,
        "deviceTimeout": args.device_timeout,
        "retries": args.retries,
        "failureThreshold": args.failure_threshold,
        "failureMinimum": args.failure_minimum,
    }
    _print(stdout, _call(args, "POST", "/api/campaigns", body))


def run_list(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    for campaign in _call(args, "GET", "/api/campaigns"):
        stdout.write(json.dumps(campaign).encode() + b"\n")


def run_show(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    query = f"?state={args.state}" if args.state else ""
    _print(stdout, _call(args, "GET", f"/api/campaigns/{args.id}{query}"))


def run_step(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    _print(stdout, _call(args, "POST", f"/api/campaigns/{args.id}/{args.action}"))


def _print(stdout: BinaryIO, data: Any) -> None:
    stdout.write(json.dumps(data, indent=2).encode() + b"\n")


def _call(args: argparse.Namespace, method: str, path: str, body: object = None) -> Any:
    """The API's JSON answer; InputError with its message for an HTTP error."""
    found = single_secret(
        None,
        "--token",
        args.token_file,
        AUTH_TOKEN_ENV,
        file_option="--token-file",
        what="the API token",
    )
    headers = {} if found is None else {"Authorization": f"Bearer {found[0]}"}
    try:
        response = httpx.request(
            method, args.server.rstrip("/") + path, json=body, headers=headers, timeout=60.0
        )
    except httpx.HTTPError as exc:
        raise InputError(f"cannot reach {args.server}: {exc}") from None
    try:
        data = response.json()
    except ValueError:
        data = {"message": response.text}
    if response.is_error:
        message = data.get("message") if isinstance(data, dict) else None
        raise InputError(f"{response.status_code}: {message or response.reason_phrase}")
    return data
