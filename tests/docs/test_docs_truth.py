"""README.md and docs/*.md name only flags ``lwm2m`` has and REST routes the server serves.

Flags: every ``--flag`` in the docs; on a command line of ``lwm2m <command>`` it must be an
option of that command (or of its subcommands), elsewhere an option of some ``lwm2m`` command,
unless the line runs another program (curl, make...) or the flag is in :data:`OTHER_PROGRAMS`.
Routes: every ``/api/...`` path, with placeholders (``{ep}``, ``$EP``, ``EP``) filled in, must
match a route of the app ``lwm2m server`` mounts; with ``curl -X METHOD`` that method too.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.routing import BaseRoute, Match, Mount

from lwm2m.bootstrap import ConfigStore
from lwm2m.cli.main import build_parser
from lwm2m.server import LwM2MServer
from lwm2m.web import create_app
from lwm2m.web.bootstrap_api import bootstrap_routes
from lwm2m.web.campaign_api import campaign_routes
from lwm2m.web.firmware_api import firmware_routes

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

OTHER_PROGRAMS: set[str] = set()
"""Flags of other programs named where no command line shows whose they are (none today)."""
ABSENT: set[str] = set()
"""Flags the docs name to say ``lwm2m`` does not have them (none today)."""
PROGRAMS = re.compile(
    r"^\s*(?:\$\s*)?(?:[A-Z_]+=\S+\s+)*"
    r"(?:sudo\s+)?(?:curl|make|npm|npx|pip|\S*/?pip3?|apt-get|apt|coap-client\S*|aiocoap-\S+"
    r"|git|docker|redis-\S+|mosquitto\S*|nats\S*|openssl|psql|ruff|mypy|pytest|\S*python3?"
    r"|systemctl|journalctl|kill|printf|echo|cat|ls|export)\b"
)
LWM2M_COMMAND = re.compile(r"(?:^|[\s/`])lwm2m\s+([a-z][a-z-]*)((?:\s+[a-z][a-z-]*)?)")
FLAG = re.compile(r"(?<![\w/.-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
API_PATH = re.compile(r"/api(?:/[^\s\"'`)<>,|*]*)?")
CURL_METHOD = re.compile(r"-X\s+([A-Z]+)")
FENCE = re.compile(r"^```")
INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Mention:
    doc: str
    line: int
    text: str  # the command line or code span it was found in

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text.strip()[:120]}"


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """``(line number, text, in a fenced block)``; fenced ``\\`` continuations joined."""
    fenced, pending, start = False, "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if fenced:
            if not pending:
                start = number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield start, pending + line, True
            pending = ""
        else:
            yield number, line, False


def _commands(path: Path) -> Iterator[tuple[Mention, str]]:
    """Each command line or code span, and the prose around them, as text to search."""
    for number, line, fenced in _lines(path):
        name = str(path.relative_to(ROOT))
        if fenced:
            yield Mention(name, number, line), line
            continue
        for span in INLINE.findall(line):
            yield Mention(name, number, span), span
        yield Mention(name, number, line), INLINE.sub(" ", line)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = {option for action in parser._actions for option in action.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
    return found


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _routes() -> list[BaseRoute]:
    """What ``lwm2m server`` mounts, its bootstrap, firmware and campaign APIs included."""
    unused = SimpleNamespace(repository=None)  # the route builders only keep it
    extra = [
        *bootstrap_routes(ConfigStore()),
        *firmware_routes(unused),  # type: ignore[arg-type]
        *campaign_routes(unused),  # type: ignore[arg-type]
    ]
    return list(create_app(LwM2MServer(), extra_routes=extra).routes)


def _concrete(path: str) -> str:
    """A path a request could use: placeholders filled in, query and fragment dropped."""
    path = re.split(r"[?#]", path, maxsplit=1)[0].rstrip(".:;")
    path = re.sub(r"\{[^}]*\}|\$\{?[A-Za-z_]+\}?|<[^>]*>|\.\.\.", "x1", path)
    return re.sub(r"/(?:EP|ID|SHA256|NAME|PATH)(?=/|$)", "/x1", path)


def _served(path: str, method: str | None, routes: list[BaseRoute]) -> bool:
    scope = {"type": "http", "path": path, "method": method or "GET", "root_path": ""}
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL or (method is None and match is Match.PARTIAL):
            return True
        if isinstance(route, Mount) and path.startswith(route.path + "/"):
            return True
    return False


def _wrong_flags(text: str, parser: argparse.ArgumentParser) -> list[str]:
    flags = FLAG.findall(text)
    if not flags:
        return []
    commands = _subcommands(parser)
    command = LWM2M_COMMAND.search(text)
    if command is not None and command[1] in commands:
        allowed = _options(commands[command[1]]) | ABSENT
        sub = _subcommands(commands[command[1]]).get(command[2].strip())
        allowed |= _options(sub) if sub is not None else set()
        after = text[command.end() :]
        own = FLAG.findall(re.split(r"\s(?:\||&&|;|#)\s", after, maxsplit=1)[0])
        return [flag for flag in own if flag not in allowed]
    if PROGRAMS.match(text):
        return []
    return [flag for flag in flags if flag not in _options(parser) | OTHER_PROGRAMS | ABSENT]


def test_every_flag_in_the_docs_is_one_lwm2m_has() -> None:
    parser = build_parser()
    wrong = [
        f"{mention}: {flag}"
        for doc in DOCS
        for mention, text in _commands(doc)
        for flag in _wrong_flags(text, parser)
    ]
    assert not wrong, "flags lwm2m does not have:\n" + "\n".join(sorted(set(wrong)))


def _method(text: str, found: str) -> str | None:
    """The method a mention names: ``curl -X PUT URL`` or ``PUT /api/...``."""
    before = text[: text.index(found)]
    verb = re.search(r"\b(GET|POST|PUT|PATCH|DELETE)\s+\S*$", before)
    if verb is not None:
        return verb[1]
    curl = CURL_METHOD.search(text)
    return curl[1] if curl is not None and text.count("/api") == 1 else None


def test_every_api_route_in_the_docs_is_served() -> None:
    routes = _routes()
    wrong: list[str] = []
    for doc in DOCS:
        for mention, text in _commands(doc):
            for found in API_PATH.findall(text):
                verb = _method(text, found)
                # "/api/clients[/{ep}]": with and without the optional part
                for variant in (found.split("[")[0], found.replace("[", "").replace("]", "")):
                    path = _concrete(variant)
                    if path not in ("/api", "/api/") and not _served(path, verb, routes):
                        wrong.append(f"{mention}: {verb or 'any'} {path}")
    assert not wrong, "routes the server does not serve:\n" + "\n".join(sorted(set(wrong)))


@pytest.mark.parametrize(
    ("text", "concrete"),
    [
        ("/api/clients/{ep}/3/0?format=tlv", "/api/clients/x1/3/0"),
        ("/api/clients/$EP/3303/1", "/api/clients/x1/3303/1"),
        ("/api/clients/EP/wake-policy", "/api/clients/x1/wake-policy"),
    ],
)
def test_placeholders_are_filled_in(text: str, concrete: str) -> None:
    assert _concrete(text) == concrete


def test_the_checks_catch_what_is_wrong() -> None:
    routes = _routes()
    assert not _served("/api/nonsense", None, routes)
    assert not _served("/api/clients", "DELETE", routes)
    assert _served("/api/models/3303", "GET", routes)
    parser = build_parser()
    assert _wrong_flags(".venv/bin/lwm2m client --durability strict --queue", parser) == [
        "--durability"  # lwm2m server's
    ]
    assert _wrong_flags("lwm2m server --models DIR | grep --color x", parser) == []
    assert _wrong_flags("`--no-such-flag`", parser) == ["--no-such-flag"]
    assert _wrong_flags("curl --no-such-flag", parser) == []
    assert not ABSENT & _options(parser), "now it exists: say so in the docs"
