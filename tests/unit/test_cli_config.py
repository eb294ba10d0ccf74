"""Options from a TOML file and LWM2M_* variables: command line > environment > file > default,
and everything unusable refused naming where it came from; HTTP safe by default."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

from lwm2m.cli.config import parse_layered
from lwm2m.cli.main import build_parser, main
from lwm2m.cli.options import is_loopback, refuse_open_http
from lwm2m.cli.payload import InputError

EXAMPLE = Path(__file__).parents[2] / "docs" / "lwm2m.example.toml"


def parse(argv: list[str], environ: dict[str, str] | None = None) -> argparse.Namespace:
    return parse_layered(build_parser(), argv, environ or {})


def toml(tmp_path: Path, text: str) -> str:
    file = tmp_path / "lwm2m.toml"
    file.write_text(text)
    return str(file)


def test_precedence_command_line_then_environment_then_file_then_default(
    tmp_path: Path,
) -> None:
    file = toml(tmp_path, "[server]\nhttp-port = 9000\ncoap_port = 6000\nlog-level = 'debug'\n")
    env = {"LWM2M_HTTP_PORT": "9100", "LWM2M_CONFIG": file}
    args = parse(["server", "--http-port", "9200"], env)
    assert (args.http_port, args.coap_port, args.log_level) == (9200, 6000, "debug")
    assert parse(["server"], env).http_port == 9100
    assert parse(["server", "--config", file]).http_port == 9000
    assert parse(["--config", file, "server"]).coaps_port == 5684  # the default
    defaults = parse(["server"])
    assert (defaults.http_port, defaults.http_host, defaults.handler.__name__) == (
        8080,
        "127.0.0.1",
        "run_server",
    )


def test_flags_lists_and_required_options(tmp_path: Path) -> None:
    file = toml(
        tmp_path,
        "[server]\nenforce-timer-rules = true\n"
        "[client]\nserver = ['coap://a:1', 'coap://b:2']\nqueue = true\n"
        "[bench]\nclients = 50\n",
    )
    assert parse(["server", "--config", file]).enforce_timer_rules is True
    env = {"LWM2M_ENFORCE_TIMER_RULES": "off"}
    assert parse(["server", "--config", file], env).enforce_timer_rules is False
    client = parse(["client", "--config", file])
    assert (client.server, client.queue) == (["coap://a:1", "coap://b:2"], True)
    assert parse(["client", "--config", file, "-s", "coap://c:3"]).server == ["coap://c:3"]
    assert parse(["client"], {"LWM2M_SERVER": "coap://x:1, coap://y:2"}).server == [
        "coap://x:1",
        "coap://y:2",
    ]
    assert parse(["bench", "--config", file]).clients == 50  # required on the command line


def test_bootstrap_keeps_its_own_config_option(tmp_path: Path) -> None:
    file = toml(tmp_path, "[bootstrap]\nhttp-port = 8181\n")
    args = parse(["--config", file, "bootstrap", "--config", "configs.json"])
    assert (args.config, args.http_port) == ("configs.json", 8181)


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[server]\nhttp-prot = 1\n", {}, "[server] http-prot: lwm2m server has no option"),
        ("[sever]\nhttp-port = 1\n", {}, "[sever] is not a command"),
        ("http-port = 1\n", {}, "http-port is outside a table"),
        ("[server]\nauth = 'x'\n", {}, "secrets are not taken from here, use --auth-file"),
        ("[server]\nhttp-port = 1\nhttp_port = 2\n", {}, "given twice"),
        ("[server]\nhttp-port = 'x'\n", {}, "[server] http-port: 'x' is not a port number"),
        ("[server]\nlog-level = 'loud'\n", {}, "loud is not one of debug, info"),
        ("[server]\nenforce-timer-rules = 1\n", {}, "a flag takes true or false"),
        ("[server]\nhttp-port = true\n", {}, "takes a string or a number"),
        ("[server", {}, "not TOML"),
        ("", {"LWM2M_HTTP_PORT": "many"}, "LWM2M_HTTP_PORT: 'many' is not a port number"),
        ("", {"LWM2M_QUEUE": "perhaps"}, "LWM2M_QUEUE: a flag takes true or false"),
    ],
)
def test_what_cannot_be_used_is_refused_naming_its_source(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    file = toml(tmp_path, text)
    command = "client" if "LWM2M_QUEUE" in environ else "server"
    with pytest.raises(InputError, match=None) as refused:
        parse([command, "--config", file], environ)
    assert message in str(refused.value)


def test_secrets_are_not_read_from_generic_variables() -> None:
    # LWM2M_PSK keeps its meaning (one spec a line, read by the PSK loader itself).
    assert parse(["server"], {"LWM2M_PSK": "a:b:00", "LWM2M_AUTH": "t"}).psk == []


def test_the_example_file_is_accepted_by_every_command_it_configures() -> None:
    tables = tomllib.loads(EXAMPLE.read_text())
    assert {"server", "bootstrap", "client", "bench"} <= tables.keys()
    for command in tables:
        argv = ["--config", str(EXAMPLE), command]
        parse(argv)


def test_main_reports_a_bad_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["server", "--config", toml(tmp_path, "[server]\nnope = 1\n")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lwm2m: ") and err.count("\n") == 1 and "Traceback" not in err


def test_http_beyond_loopback_needs_a_token_or_insecure_http(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert [is_loopback(host) for host in ("127.0.0.1", "::1", "localhost", "0.0.0.0")] == [
        True,
        True,
        True,
        False,
    ]
    open_args = parse(["server", "--http-host", "0.0.0.0"])
    with pytest.raises(InputError, match="no API token"):
        refuse_open_http(open_args, None, "set LWM2M_AUTH_TOKEN")
    refuse_open_http(open_args, "token", "")  # a token: fine
    refuse_open_http(parse(["server", "--http-host", "0.0.0.0", "--insecure-http"]), None, "")
    refuse_open_http(parse(["server"]), None, "")  # loopback by default
    # The command refuses before it opens anything.
    assert main(["server", "--http-host", "0.0.0.0", "--db", ":memory:"]) == 1
    assert "--insecure-http" in capsys.readouterr().err
    assert main(["bootstrap", "--config", "x.json", "--http-host", "192.0.2.1"]) == 1
    assert "its API takes no token" in capsys.readouterr().err
