"""``lwm2m check ENDPOINT``: a registered device against Deutsche Telekom's LwM2M profile.

Asks a running server through its REST API, so it runs anywhere the API is reachable.  Exit
status 0 when every mandatory item is met, 1 when one is not, 2 when the check could not be
made (bad arguments, no server, unknown endpoint), with one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator
from typing import TextIO

from lwm2m.codec.flat_json import value_to_json
from lwm2m.compliance.checker import (
    ComplianceReport,
    ObjectResult,
    ResourceResult,
    Verdict,
    check,
)
from lwm2m.compliance.collect import CollectError, RestSource, collect
from lwm2m.compliance.profile import PROFILE_NAME
from lwm2m.model import Value
from lwm2m.server.timer_rules import TIMER_RULES, Operand

PASSED, FAILED, NOT_CHECKED = 0, 1, 2
_PRESENCE = {True: "present", False: "missing", None: "unknown"}
VALUE_WIDTH = 28


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    helptext = "check a registered device against Deutsche Telekom's LwM2M device profile"
    cmd = subparsers.add_parser(
        "check",
        help=helptext,
        description=f"{helptext}. Exit status 0: every mandatory item is met; 1: not; "
        "2: the check could not be made.",
    )
    cmd.add_argument("endpoint", metavar="ENDPOINT", help="endpoint client name")
    cmd.add_argument(
        "--server",
        default="http://127.0.0.1:8080",
        metavar="URL",
        help="REST API of the LwM2M server (http://127.0.0.1:8080)",
    )
    cmd.add_argument("--json", action="store_true", help="the report as JSON")
    cmd.add_argument("--token", help="bearer token, for a server started with --auth")
    cmd.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for each answer (60)"
    )


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    if args.timeout <= 0:
        print("lwm2m check: --timeout must be positive", file=sys.stderr)
        return NOT_CHECKED
    source = RestSource(args.server, timeout=args.timeout, token=args.token)
    try:
        data = asyncio.run(collect(source, args.endpoint))
    except CollectError as exc:
        print(f"lwm2m check: {exc}", file=sys.stderr)
        return NOT_CHECKED
    report = check(data)
    if args.json:
        json.dump(report.to_json(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.writelines(line + "\n" for line in render(report))
    return PASSED if report.passed else FAILED


def render(report: ComplianceReport) -> Iterator[str]:
    """The report for people: object by object, resource by resource, then timers."""
    verdict = "PASSED" if report.passed else "FAILED"
    yield f"{report.endpoint}: {verdict} ({PROFILE_NAME})"
    binding = report.binding
    queue = ", queue mode" if binding.queue_mode else ""
    yield f"LwM2M {report.lwm2m_version}, registered with binding {binding.registration}{queue}"
    servers = ", ".join(f"{path} {value}" for path, value in binding.server_bindings)
    yield f"Binding: {servers or 'no /1/x/7 read'}; supported (/3/0/16): {binding.supported}"
    security = report.security
    mode = "unknown" if security.mode is None else str(security.mode)
    detail = f" - {security.detail}" if security.detail else ""
    yield f"Security mode: {mode} ({security.outcome.value}){detail}"
    yield ""
    yield "Objects and resources (required by the profile, present, value, verdict):"
    for obj in report.objects:
        yield from _object_lines(obj)
    if report.other_objects:
        others = " ".join(f"/{oid}" for oid in report.other_objects)
        yield f"  not in the profile: {others}"
    yield ""
    yield "Device object values missing or empty:"
    for item in report.device_values:
        yield f"  {item.path:<10} {item.name:<30} {item.required.value:<12} {item.problem}"
    if not report.device_values:
        yield "  none"
    yield ""
    yield "Timer rules of the profile (recommendations; unknown where a value is not known):"
    for number, text in TIMER_RULES.items():
        yield f"  rule {number}: {text}"
    for timer in report.timers:
        comparison = f"{_operand(timer.left)} {timer.relation} {_operand(timer.right)}"
        detail = f" ({timer.detail})" if timer.detail else ""
        yield f"  {timer.scope:<16} {timer.rule} {timer.text:<34} {timer.outcome.value}{detail}"
        yield f"  {'':<16}   {comparison}"
    yield ""
    yield "Timer rules the server sees broken (network timers and written attributes included):"
    for violation in report.timer_violations:
        yield f"  {violation.scope:<16} {violation.rule} {violation.comparison:<34} fail"
        yield f"  {'':<16}   {violation.detail}"
    if not report.timer_violations:
        yield "  none"
    yield ""
    if report.passed:
        yield "Every mandatory item is met."
    else:
        yield f"{len(report.failures)} mandatory items not met:"
        yield from (f"  {line}" for line in report.failures)


def _object_lines(obj: ObjectResult) -> Iterator[str]:
    profile = obj.profile
    state = _PRESENCE[obj.present].replace("missing", "absent")
    if obj.instances:
        state += " (instances " + " ".join(str(i) for i in obj.instances) + ")"
    detail = f" - {obj.detail}" if obj.detail else ""
    mark = "!" if obj.failed else " "
    yield (
        f"{mark} /{profile.object_id:<5} {profile.name:<38} {profile.telekom.value:<12} "
        f"{state:<22} {obj.verdict.value}{detail}"
    )
    if obj.verdict is Verdict.NOT_REQUIRED:
        return
    for res in obj.resources:
        yield _resource_line(res)


def _resource_line(res: ResourceResult) -> str:
    mark = "!" if res.failed else " "
    state = _PRESENCE[res.present]
    detail = f" - {res.detail}" if res.detail else ""
    return (
        f"{mark}   {res.path:<13} {res.profile.name[:34]:<34} {res.required.value:<22} "
        f"{state:<8} {_value(res):<{VALUE_WIDTH}} {res.verdict.value}{detail}"
    )


def _value(res: ResourceResult) -> str:
    value = res.value
    if value is None:
        return ""
    if isinstance(value, dict):
        text = " ".join(f"{iid}={_json(v)}" for iid, v in sorted(value.items()))
        text = text or "(no instances)"
    else:
        text = _json(value)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _json(value: Value) -> str:
    return json.dumps(value_to_json(value), ensure_ascii=False)


def _operand(operand: Operand) -> str:
    return f"{operand.name} {operand.display} [{operand.source}]"
