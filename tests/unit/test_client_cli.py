"""``lwm2m client`` refuses settings it could not honour before it starts, and takes its
secrets from a file or the environment rather than the command line."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path as FilePath

import pytest

from lwm2m.cli.client import _oscore, _psk
from lwm2m.cli.main import build_parser, main
from lwm2m.cli.secret_options import OSCORE_ENV, PSK_KEY_ENV
from lwm2m.client.profile import ServerAccount, telekom_device
from lwm2m.client.tree import OSCORE

ENDPOINT, URI = "urn:dev:cli", "coap://127.0.0.1:9"
CLIENT = ["client", "--endpoint", ENDPOINT, "--server", URI]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--content-format", "lwm2m-cbor"], "11544 cannot be announced in an LwM2M 1.1"),
        (["--lwm2m", "1.0", "--content-format", "112"], "112 cannot be announced in an LwM2M 1.0"),
        (["--content-format", "xml"], "expected a number or a format name"),
    ],
)
def test_a_content_format_the_version_cannot_announce_is_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*CLIENT, *argv]) == 1
    assert message in capsys.readouterr().err


# -- secrets off the command line (docs/security.md) ------------------------------------------

KEY = "000102030405060708090a0b0c0d0e0f"
SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (PSK_KEY_ENV, OSCORE_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def client_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args([*CLIENT, *argv])


def test_the_psk_key_from_a_file_or_the_environment_is_not_warned_about(
    tmp_path: FilePath, clean_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "key"
    file.write_text(f"{KEY}\n")
    expected = (b"dev-1", bytes.fromhex(KEY))
    with caplog.at_level(logging.WARNING):
        assert _psk(client_args("--psk-identity", "dev-1", "--psk-key-file", str(file))) == expected
        clean_environment.setenv(PSK_KEY_ENV, f" {KEY} ")
        assert _psk(client_args("--psk-identity", "dev-1")) == expected
    assert caplog.text == ""


def test_the_psk_key_on_the_command_line_works_with_a_warning(
    clean_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert _psk(client_args("--psk-identity", "dev-1", "--psk-key", KEY)) is not None
    assert "--psk-key on the command line can be read by every user" in caplog.text
    assert "use --psk-key-file or LWM2M_PSK_KEY" in caplog.text and KEY not in caplog.text


ID = ["--psk-identity", "dev-1"]


@pytest.mark.parametrize(
    ("argv", "environment", "message"),
    [
        ([*ID, "--psk-key", KEY], KEY, "the PSK key comes from one place, not from --psk-key and"),
        ([*ID, "--psk-key", KEY[:-2] + "zz"], None, "--psk-key: key is not hexadecimal"),
        (ID, KEY[:-2] + "zz", "LWM2M_PSK_KEY: key is not hexadecimal"),
        (ID, " ", "LWM2M_PSK_KEY: the PSK key is empty"),
        ([], KEY, "--psk-identity and the PSK key (--psk-key-file, LWM2M_PSK_KEY or --psk-key)"),
    ],
)
def test_a_bad_psk_key_is_named_by_its_source_never_quoted(
    argv: list[str],
    environment: str | None,
    message: str,
    clean_environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if environment is not None:
        clean_environment.setenv(PSK_KEY_ENV, environment)
    assert main([*CLIENT, *argv]) == 1
    errors = capsys.readouterr().err
    assert message in errors and KEY[:-2] not in errors


def test_the_oscore_context_from_a_file_or_the_environment(
    tmp_path: FilePath, clean_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "oscore"
    file.write_text(f"0c:05:{SECRET}\n")
    state = str(tmp_path / "state")
    with caplog.at_level(logging.WARNING):
        for argv in (["--oscore-file", str(file)], []):
            if not argv:
                clean_environment.setenv(OSCORE_ENV, f"0c:05:{SECRET}")
            tree = telekom_device(ENDPOINT, seed=1, now=0.0, servers=[ServerAccount(1, URI)])
            _oscore(client_args("--state", state, *argv), ENDPOINT, tree, [ServerAccount(1, URI)])
            assert tree.object(OSCORE).read(0, 0) == SECRET
            assert (tree.object(OSCORE).read(0, 1), tree.object(OSCORE).read(0, 2)) == ("0c", "05")
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("argv", "environment", "message"),
    [
        (["--oscore", f"0c:05:{SECRET}"], f"0c:05:{SECRET}", "comes from one place, not from"),
        ([], f"0c:05:{SECRET}", "LWM2M_OSCORE needs --state: sequence numbers must survive"),
        (["--state", "S"], f"0c:05:{SECRET[:-2]}zz", "LWM2M_OSCORE: key is not hexadecimal"),
        (["--state", "S"], f"0c:5:{SECRET}", "LWM2M_OSCORE: RECIPIENTID: not hexadecimal"),
        (["--state", "S"], f"0c:0c:{SECRET}", "senderId and recipientId must differ"),
        (["--state", "S"], f"{ENDPOINT}:0c:05:{SECRET}", "expected SENDERID:RECIPIENTID:MAS"),
        (["--state", "S", "--oscore", f"0c:05:{SECRET[:-2]}zz"], None, "--oscore: key is not"),
    ],
)
def test_a_bad_oscore_context_is_named_by_its_source_never_quoted(
    argv: list[str],
    environment: str | None,
    message: str,
    *,
    tmp_path: FilePath,
    clean_environment: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if environment is not None:
        clean_environment.setenv(OSCORE_ENV, environment)
    argv = [str(tmp_path / "state") if arg == "S" else arg for arg in argv]
    assert main([*CLIENT, *argv]) == 1
    errors = capsys.readouterr().err
    assert message in errors and SECRET[:-2] not in errors
