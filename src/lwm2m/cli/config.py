"""Every option of a command from three more places than the command line: a TOML file and
the environment, under one precedence rule: command line > environment > file > default.

The file (``--config FILE``, before or after the command, or ``$LWM2M_CONFIG``) has one table
per command, keyed by the long option names, with dashes or underscores::

    [server]
    http-host = "0.0.0.0"
    http_port = 8080
    enforce-timer-rules = true
    allowed-hosts = "lwm2m.example.net"

The environment has ``LWM2M_`` and the option's name in capitals, dashes as underscores
(``LWM2M_HTTP_PORT=8081``); flags take ``1/true/yes/on`` or ``0/false/no/off``, repeatable
options a comma-separated list.  A value from either place goes through the option's own type
and choices check; what cannot be used (an unknown key or table, a value of the wrong kind) is
refused naming where it came from, never ignored.

Secrets are not taken from here: each already has its own file option and variable
(``--auth-file``/``LWM2M_AUTH_TOKEN``, ...), and a key naming one is refused with that
advice.  ``lwm2m bootstrap`` keeps ``--config`` for its configurations file; its TOML file
comes from ``lwm2m --config FILE bootstrap`` or ``LWM2M_CONFIG``.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lwm2m.cli.payload import InputError

CONFIG_ENV = "LWM2M_CONFIG"
ENV_PREFIX = "LWM2M_"

SECRET_OPTIONS = {
    "auth": "--auth-file or LWM2M_AUTH_TOKEN",
    "psk": "--psk-file or LWM2M_PSK",
    "oscore": "--oscore-file or LWM2M_OSCORE",
    "psk_key": "--psk-key-file or LWM2M_PSK_KEY",
    "nidd_token": "LWM2M_NIDD_TOKEN",
    "t8_token": "--t8-token-file or LWM2M_T8_TOKEN",
    "token": "its own option",
}
"""Options (by dest) that carry a secret, and where it comes from instead."""

_TOML_FILE = "config"
"""The dest of ``--config`` where it names this file (decided first, never layered)."""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class _Layered:
    """A value for an option from the file or the environment, and where it came from."""

    value: object
    where: str


CONFIG_HELP = (
    f"options from this TOML file, one [COMMAND] table each (default: ${CONFIG_ENV}); the"
    " command line and LWM2M_* variables win over it (docs/operations.md)"
)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``, for the top-level parser and every command without one."""
    if not any("--config" in action.option_strings for action in parser._actions):
        parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)


def parse_layered(
    parser: argparse.ArgumentParser, argv: Sequence[str], environ: Mapping[str, str]
) -> argparse.Namespace:
    """``argv`` parsed by ``parser`` (the ``lwm2m`` one, from ``build_parser``), the options the
    command line leaves out taken from the environment, then from the config file; InputError
    for an unusable file or value (argparse's own errors exit with status 2 as usual)."""
    argv = list(argv)
    commands = _subparsers(parser)
    command, rest, file = _split(argv)
    subparser = commands.get(command or "")
    if command is None or subparser is None or _subparsers(subparser):
        # --help, --version, an unknown command, or one with subcommands of its own (their
        # options stay on the command line): argparse alone.
        args = parser.parse_args(argv)
        path = file or environ.get(CONFIG_ENV)
        if path and command in _load(path, commands):
            raise InputError(f"{path}: [{command}] cannot be configured from a file")
        return args
    options = _long_options(subparser)
    own = None
    if not _takes_other_config(subparser):
        options.pop(_TOML_FILE)
        own = _peek_config(rest)
    path = own or file or environ.get(CONFIG_ENV)
    layered = _from_file(path, command, options, commands) if path else {}
    layered.update(_from_environment(environ, options))
    values = {dest: _convert(options[dest], found) for dest, found in layered.items()}
    for action in subparser._actions:
        if action.dest in values:
            action.required = False  # given by the file or the environment
    markers = {dest: None if _is_list(options[dest]) else _UNSET for dest in values}
    args = subparser.parse_args(rest, namespace=argparse.Namespace(**markers))
    for dest, value in values.items():
        if getattr(args, dest) is markers[dest]:  # not on the command line
            setattr(args, dest, value)
    args.command = command
    return args


_UNSET = object()
"""Marks an option the command line did not give (argparse then leaves it as it is)."""


def _split(argv: list[str]) -> tuple[str | None, list[str], str | None]:
    """The command, the arguments after it and a ``--config`` given before it."""
    file = None
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--config" and index + 1 < len(argv):
            file = argv[index + 1]
            index += 2
        elif token.startswith("--config="):
            file = token.partition("=")[2]
            index += 1
        elif token.startswith("-"):
            break  # --help, --version or a mistake: argparse says which
        else:
            return token, argv[index + 1 :], file
    return None, [], file


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _takes_other_config(parser: argparse.ArgumentParser) -> bool:
    """Whether the command's own ``--config`` is something else (lwm2m bootstrap's JSON)."""
    return any(
        "--config" in action.option_strings and action.help != CONFIG_HELP
        for action in parser._actions
    )


def _long_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The command's options by dest (those with a long name)."""
    return {
        action.dest: action
        for action in parser._actions
        if any(option.startswith("--") for option in action.option_strings)
        and action.dest != "help"
    }


def _peek_config(rest: list[str]) -> str | None:
    """``--config FILE`` among a command's own arguments."""
    found = None
    for index, token in enumerate(rest):
        if token == "--":
            break
        if token == "--config" and index + 1 < len(rest):
            found = rest[index + 1]
        elif token.startswith("--config="):
            found = token.partition("=")[2]
    return found


def _load(file: str, commands: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """The file's tables by command; InputError for a file that is not TOML, a key outside a
    table or a table that names no command."""
    try:
        with open(file, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{file}: not TOML: {exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{file}: not UTF-8 text") from None
    for key, value in document.items():
        if not isinstance(value, dict):
            raise InputError(f"{file}: {key} is outside a table: options go under [COMMAND]")
        if key not in commands:
            raise InputError(f"{file}: [{key}] is not a command ({', '.join(commands)})")
    return document


def _from_file(
    file: str,
    command: str,
    options: Mapping[str, argparse.Action],
    commands: Mapping[str, object],
) -> dict[str, _Layered]:
    """The values of the command's table; InputError for a key no option takes."""
    found: dict[str, _Layered] = {}
    for key, value in _load(file, commands).get(command, {}).items():
        dest = key.replace("-", "_")
        where = f"{file} [{command}] {key}"
        if dest in SECRET_OPTIONS and dest in options:
            raise InputError(
                f"{where}: secrets are not taken from here, use {SECRET_OPTIONS[dest]}"
            )
        if dest not in options:
            raise InputError(f"{where}: lwm2m {command} has no option --{dest.replace('_', '-')}")
        if dest in found:
            raise InputError(f"{where}: given twice, with dashes and with underscores")
        found[dest] = _Layered(value, where)
    return found


def _from_environment(
    environ: Mapping[str, str], options: Mapping[str, argparse.Action]
) -> dict[str, _Layered]:
    found = {}
    for dest in options:
        if dest in SECRET_OPTIONS or dest == _TOML_FILE:  # LWM2M_CONFIG names the TOML file
            continue
        name = env_name(dest)
        if name in environ:
            found[dest] = _Layered(environ[name], name)
    return found


def env_name(dest: str) -> str:
    """The variable that gives the option with this dest: ``LWM2M_HTTP_PORT``."""
    return ENV_PREFIX + dest.upper()


def _is_flag(action: argparse.Action) -> bool:
    return isinstance(action, argparse._StoreConstAction) and action.nargs == 0


def _is_list(action: argparse.Action) -> bool:
    return isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*")


def _convert(action: argparse.Action, found: _Layered) -> object:
    """The value the option would hold had it been given on the command line."""
    value, where = found.value, found.where
    if _is_flag(action):
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            value = value.strip().lower() in _TRUE
        if not isinstance(value, bool):
            raise InputError(f"{where}: a flag takes true or false")
        return action.const if value else action.default
    if _is_list(action):
        if isinstance(value, str):
            items: list[object] = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, list):
            items = value
        else:
            raise InputError(f"{where}: takes a list (or a comma-separated string)")
        return [_scalar(action, item, where) for item in items]
    return _scalar(action, value, where)


def _scalar(action: argparse.Action, value: object, where: str) -> object:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(f"{where}: takes a string or a number")
    text = str(value)
    converted: object = text
    if action.type is not None:
        try:
            converted = action.type(text)  # type: ignore[operator]
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            detail = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else "invalid value"
            raise InputError(f"{where}: {detail}") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(str(choice) for choice in action.choices)
        raise InputError(f"{where}: {text!s:.40} is not one of {choices}")
    return converted
