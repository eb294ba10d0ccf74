"""Secrets for the commands, from a file or the environment rather than the command line.

Every user of the machine can read a process's arguments (``/proc/PID/cmdline``, ``ps``), so a
key or token given as an option is as good as published there.  Each secret option therefore
has a file form and an environment variable (``/proc/PID/environ`` is readable by its owner
only); the option itself still works, with a warning in the log.

Lists (PSKs, OSCORE contexts) come from all three places, one spec per line in files and
variables (endpoint names may hold spaces, never line breaks); blank lines and lines starting
with ``#`` are skipped.  A single value (the API token, the client's PSK key and OSCORE
context) must come from one place only, a file giving it on its first line.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from lwm2m.cli.payload import InputError

logger = logging.getLogger(__name__)

AUTH_TOKEN_ENV = "LWM2M_AUTH_TOKEN"
PSK_ENV = "LWM2M_PSK"
OSCORE_ENV = "LWM2M_OSCORE"
PSK_KEY_ENV = "LWM2M_PSK_KEY"


def add_auth_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--auth",
        metavar="TOKEN",
        help="require this bearer token for the API (visible to every local user: prefer"
        f" --auth-file or {AUTH_TOKEN_ENV})",
    )
    cmd.add_argument(
        "--auth-file", metavar="FILE", help="require the bearer token in FILE (its first line)"
    )


def warn_on_command_line(option: str, alternatives: str) -> None:
    logger.warning(
        "%s on the command line can be read by every user of this machine (ps,"
        " /proc/PID/cmdline): use %s instead",
        option,
        alternatives,
    )


def auth_token(args: argparse.Namespace) -> str | None:
    """The API token from ``--auth``, ``--auth-file`` or ``LWM2M_AUTH_TOKEN`` (one of them),
    None for an open API; InputError for an empty one or two sources."""
    found = single_secret(
        args.auth,
        "--auth",
        args.auth_file,
        AUTH_TOKEN_ENV,
        file_option="--auth-file",
        what="the API token",
    )
    return None if found is None else found[0]


def single_secret(
    value: str | None, option: str, file: str | None, env: str, *, file_option: str, what: str
) -> tuple[str, str] | None:
    """``(secret, where it came from)`` for a single value: ``option``'s ``value`` (warned
    about), the first line of ``file`` or the variable ``env``; None if none is given.
    InputError for two sources or an empty value; ``where`` names the source, never the value.
    """
    given = [
        name
        for name, present in (
            (option, value is not None),
            (file_option, file is not None),
            (env, env in os.environ),
        )
        if present
    ]
    if len(given) > 1:
        raise InputError(f"{what} comes from one place, not from {' and '.join(given)}")
    if value is not None:
        warn_on_command_line(option, f"{file_option} or {env}")
        secret = value
    elif file is not None:
        lines = read_secret_file(file).splitlines()
        secret = lines[0].strip() if lines else ""
    elif env in os.environ:
        secret = os.environ[env].strip()
    else:
        return None
    if not secret:
        raise InputError(f"{given[0]}: {what} is empty")
    return secret, given[0]


def spec_lines(
    options: list[str], option: str, file: str | None, env: str, *, file_option: str
) -> list[tuple[str, str]]:
    """``(spec, where it came from)`` for each spec in ``options`` (warned about), the lines
    of ``file`` and the lines of the variable ``env``; ``where`` never quotes the spec."""
    specs = [(spec, f"{option} number {n}") for n, spec in enumerate(options, start=1)]
    if options:
        warn_on_command_line(option, f"{file_option} or {env}")
    if file is not None:
        specs += _lines(read_secret_file(file), file)
    specs += _lines(os.environ.get(env, ""), env)
    return specs


def read_secret_file(file: str) -> str:
    try:
        return Path(file).read_text()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc}") from None
    except UnicodeDecodeError:  # its message would quote a byte of the secret
        raise InputError(f"cannot read {file}: not UTF-8 text") from None


def _lines(text: str, source: str) -> list[tuple[str, str]]:
    return [
        (line.strip(), f"{source} line {n}")
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
