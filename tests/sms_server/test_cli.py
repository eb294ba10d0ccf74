"""``lwm2m server --smpp``: the SMPP password from one place (URL, file or environment, never
quoted in errors) and the wake flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from lwm2m.cli.cellular_options import SMPP_PASSWORD_ENV, sms_settings, wake_settings
from lwm2m.cli.main import build_parser
from lwm2m.cli.payload import InputError
from lwm2m.server.waking import WakeMode, WakePolicy
from lwm2m.transport.sms.settings import SmppSettings


def settings(*argv: str) -> SmppSettings | None:
    return sms_settings(build_parser().parse_args(["server", *argv]))


def test_the_password_comes_from_one_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(SMPP_PASSWORD_ENV, raising=False)
    assert settings() is None
    url = "smpp://esme@127.0.0.1:2776"
    with pytest.raises(InputError, match="needs a password"):
        settings("--smpp", url)
    file = tmp_path / "password"
    file.write_text("s/cr@t\n")
    from_file = settings("--smpp", url, "--smpp-password-file", str(file))
    assert from_file is not None
    assert from_file.password.reveal() == b"s/cr@t" and from_file.system_id == "esme"
    assert (from_file.host, from_file.port) == ("127.0.0.1", 2776)
    monkeypatch.setenv(SMPP_PASSWORD_ENV, "envpw")
    from_env = settings("--smpp", url, "--smpp-source-addr", "+4930123")
    assert from_env is not None
    assert from_env.password.reveal() == b"envpw" and from_env.source == "+4930123"
    with pytest.raises(InputError, match="one place") as twice:
        settings("--smpp", "smpp://esme:inurl@host")
    assert "inurl" not in str(twice.value)
    monkeypatch.delenv(SMPP_PASSWORD_ENV)
    in_url = settings("--smpp", "smpp://esme:inurl@host")
    assert in_url is not None and in_url.password.reveal() == b"inurl"
    with pytest.raises(InputError, match="at most 8") as long:
        settings("--smpp", "smpp://esme:longerthan8@host")
    assert "longerthan8" not in str(long.value)


def test_wake_flags() -> None:
    parse = build_parser().parse_args
    assert wake_settings(parse(["server"])).default == WakePolicy()
    waiting = wake_settings(parse(["server", "--wake", "wait", "--wake-max-per-hour", "1"]))
    assert waiting.default == WakePolicy(WakeMode.WAIT, max_per_hour=1)
    with pytest.raises(InputError, match="maxPerHour"):
        wake_settings(parse(["server", "--wake-max-per-hour", "100"]))
