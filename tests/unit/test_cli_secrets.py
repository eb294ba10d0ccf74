"""Secrets off the command line: every secret option of ``lwm2m server`` and ``lwm2m bootstrap``
has a file form and an environment variable, and the option itself is warned about."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from lwm2m.cli.bootstrap import load_credentials
from lwm2m.cli.main import build_parser
from lwm2m.cli.payload import InputError
from lwm2m.cli.secret_options import AUTH_TOKEN_ENV, OSCORE_ENV, PSK_ENV, auth_token
from lwm2m.cli.server import _oscore
from lwm2m.storage import SqliteStore

KEY = "000102030405060708090a0b0c0d0e0f"
SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (AUTH_TOKEN_ENV, PSK_ENV, OSCORE_ENV):
        monkeypatch.delenv(name, raising=False)


def server_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["server", *argv])


def test_the_token_on_the_command_line_works_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert auth_token(server_args("--auth", "t0ken")) == "t0ken"
    assert "--auth on the command line can be read by every user" in caplog.text
    assert "t0ken" not in caplog.text


def test_the_token_from_a_file_or_the_environment_is_not_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "token"
    file.write_text("from-file\n")
    with caplog.at_level(logging.WARNING):
        assert auth_token(server_args("--auth-file", str(file))) == "from-file"
        monkeypatch.setenv(AUTH_TOKEN_ENV, " from-env ")
        assert auth_token(server_args()) == "from-env"
    assert caplog.text == ""


def test_the_token_comes_from_one_place_and_is_never_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(InputError, match="empty"):
        auth_token(server_args("--auth-file", str(empty)))
    with pytest.raises(InputError, match="cannot read"):
        auth_token(server_args("--auth-file", str(tmp_path / "missing")))
    monkeypatch.setenv(AUTH_TOKEN_ENV, "x")
    with pytest.raises(InputError, match="not from --auth and LWM2M_AUTH_TOKEN"):
        auth_token(server_args("--auth", "y"))
    assert auth_token(server_args()) == "x"


@pytest.mark.parametrize("command", ["server", "bootstrap"])
def test_psks_from_the_environment_and_the_command_line(
    command: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(PSK_ENV, f"urn:imei:1:id-1:{KEY}\n# a comment\n\nurn:dev:a b:id-2:{KEY}\n")
    extra = ["--config", "x.json"] if command == "bootstrap" else []
    args = build_parser().parse_args([command, *extra])
    with caplog.at_level(logging.WARNING):
        store = load_credentials(args)
    assert caplog.text == ""
    assert {c.endpoint for c in store} == {"urn:imei:1", "urn:dev:a b"}
    args = build_parser().parse_args([command, *extra, "--psk", f"urn:imei:3:id-3:{KEY}"])
    with caplog.at_level(logging.WARNING):
        assert len(load_credentials(args)) == 3
    assert "--psk on the command line" in caplog.text and KEY not in caplog.text


def test_a_bad_psk_line_is_named_without_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PSK_ENV, f"urn:imei:1:id-1:{KEY}\nurn:imei:2:id-2:{KEY[:-1]}zz")
    with pytest.raises(InputError) as caught:
        load_credentials(server_args())
    assert str(caught.value).startswith("LWM2M_PSK line 2:")
    assert KEY[:-1] not in str(caught.value)


def test_oscore_contexts_from_a_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "oscore"
    file.write_text(f"urn:imei:1:05:0c:{SECRET}\n")
    monkeypatch.setenv(OSCORE_ENV, f"urn:imei:2:06:0d:{SECRET}")
    database = SqliteStore(tmp_path / "db.sqlite")
    try:
        with caplog.at_level(logging.WARNING):
            contexts = _oscore(server_args("--oscore-file", str(file)), database)
        assert caplog.text == ""
        assert database.oscore.get("urn:imei:1") is not None
        assert database.oscore.get("urn:imei:2") is not None
        assert contexts is database.oscore
        with caplog.at_level(logging.WARNING):
            _oscore(server_args("--oscore", f"urn:imei:3:07:0e:{SECRET}"), database)
        assert "--oscore on the command line" in caplog.text and SECRET not in caplog.text
    finally:
        database.close()
    with pytest.raises(InputError, match="needs a --db file"):
        _oscore(server_args(), None)
