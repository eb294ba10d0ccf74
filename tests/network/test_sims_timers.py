"""SIM lists, the HSS, NAS timer encodings, the grant policy and the command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lwm2m.cli.main import build_parser
from lwm2m.cli.network import T8_TOKEN_ENV, load_hss, network_config, t8_token
from lwm2m.cli.payload import InputError
from lwm2m.network.sims import Hss, SimError, generate_sims, load_sims
from lwm2m.network.timers import MAX_T3324, MAX_T3412, GrantPolicy
from lwm2m.transport.modem.nas import decode_edrx, decode_timer2, decode_timer3


def test_hss_maps_every_identity(tmp_path: Path) -> None:
    path = tmp_path / "sims.json"
    entries = [{"imsi": "262019876543210", "msisdn": "+4915112345678", "externalId": "a@b.de"}]
    path.write_text(json.dumps(entries))
    (sim,) = load_sims(path)
    hss = Hss([sim])
    assert hss.lookup(external_id="a@b.de") == sim == hss.lookup(msisdn="4915112345678")
    assert hss.lookup(msisdn="+4915112345678") == sim == hss.by_imsi("262019876543210")
    assert len(sim.imei) == 15


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [{"imsi": "1", "msisdn": "4915112345678", "externalId": "a@b"}],
        [{"imsi": "262019876543210", "msisdn": "4915112345678", "externalId": "no-domain"}],
        [{"imsi": "262019876543210", "msisdn": "49151"}],
    ],
)
def test_bad_sim_lists_are_refused(tmp_path: Path, entries: list[object]) -> None:
    path = tmp_path / "sims.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(SimError):
        Hss(load_sims(path))


def test_duplicates_are_refused() -> None:
    sim = generate_sims(1)[0]
    with pytest.raises(SimError, match="duplicate"):
        Hss([sim, sim])


def test_imei_luhn() -> None:
    for sim in generate_sims(20):
        digits = [int(c) for c in sim.imei]
        total = sum(
            d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)
        )
        assert total % 10 == 0


@pytest.mark.parametrize(
    ("bits", "seconds"),
    [
        ("00000001", 600),
        ("00100001", 3600),
        ("01000011", 108_000),
        ("10100010", 120),
        ("01100101", 10),
        ("11000001", 1_152_000),
        ("11100000", None),
    ],
)
def test_gprs_timer_3(bits: str, seconds: int | None) -> None:
    assert decode_timer3(bits) == seconds
    granted = GrantPolicy(t3412_min=2).grant(t3412=seconds, t3324=0, edrx=None)
    if seconds:  # what the network tells the UE it granted: the coarsest exact unit
        assert granted.periodic_tau == bits


@pytest.mark.parametrize(
    ("bits", "seconds"),
    [("00000101", 10), ("00100001", 60), ("01000010", 720), ("11100000", None), ("00000000", 0)],
)
def test_gprs_timer_2(bits: str, seconds: int | None) -> None:
    assert decode_timer2(bits) == seconds
    granted = GrantPolicy().grant(t3412=None, t3324=seconds, edrx=None)
    assert granted.active_time == bits


def test_grant_policy_refuses_what_the_timers_cannot_carry() -> None:
    for bad in (
        {"t3412_max": MAX_T3412 + 1},
        {"t3324_max": MAX_T3324 + 1},
        {"default_t3412": 0},
        {"t3324_min": -1},
    ):
        with pytest.raises(ValueError, match="grant policy"):
            GrantPolicy(**bad)  # type: ignore[arg-type]


def test_edrx_values() -> None:
    assert decode_edrx("0101") == 81.92
    assert decode_edrx("0000") == 20.48  # not an NB-S1 value: read as 0010
    assert decode_edrx("1111") == 10485.76


def test_grant_policy_clamps_and_rounds() -> None:
    policy = GrantPolicy(
        t3412_min=600, t3412_max=7200, t3324_min=10, t3324_max=60, edrx_min=40.96, ptw=5.12
    )
    granted = policy.grant(t3412=60, t3324=2, edrx=20.48)
    assert (granted.t3412, granted.t3324, granted.edrx, granted.ptw) == (600, 10, 40.96, 5.12)
    assert (granted.edrx_value, granted.ptw_value) == ("0011", "0001")
    assert policy.grant(t3412=10**7, t3324=3600, edrx=None).t3324 == 60
    refusing = GrantPolicy(psm=False, edrx=False)
    granted = refusing.grant(t3412=60, t3324=2, edrx=20.48)
    assert granted.t3324 is None and granted.edrx is None and granted.active_time == "11100000"


def test_command_line() -> None:
    parser = build_parser()
    args = parser.parse_args(
        [
            "network",
            "--sims",
            "3",
            "--apn-rate",
            "10/hour",
            "--plmn-rate",
            "5",
            "--t3324",
            "20:40",
            "--exception-reports",
        ]
    )
    config = network_config(args)
    assert config.rate.apn_max == 10 and config.rate.apn_unit == "hour"
    assert config.rate.exception_reports and config.rate.plmn_max == 5
    assert config.policy.t3324_min == 20 and len(load_hss(args)) == 3
    for bad in (
        ["--apn-rate", "10/fortnight"],
        ["--t3412", "x"],
        ["--max-packet-size", "2000"],
        ["--sims", "/nonexistent.json"],
        ["--sims", "0"],
    ):
        args = parser.parse_args(["network", *bad])
        with pytest.raises(InputError):
            network_config(args)
            load_hss(args)


def test_the_t8_token_comes_from_one_place_and_off_the_command_line_if_possible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(T8_TOKEN_ENV, raising=False)
    parser = build_parser()
    assert t8_token(parser.parse_args(["network"])) is None
    with caplog.at_level(logging.WARNING):
        assert t8_token(parser.parse_args(["network", "--t8-token", "s3cret"])) == "s3cret"
    assert "--t8-token on the command line can be read by every user" in caplog.text
    assert "s3cret" not in caplog.text
    caplog.clear()
    file = tmp_path / "token"
    file.write_text("from-file\nsecond line ignored\n")
    with caplog.at_level(logging.WARNING):
        assert t8_token(parser.parse_args(["network", "--t8-token-file", str(file)])) == (
            "from-file"
        )
        monkeypatch.setenv(T8_TOKEN_ENV, " from-env ")
        assert t8_token(parser.parse_args(["network"])) == "from-env"
    assert caplog.text == ""
    with pytest.raises(InputError, match="not from --t8-token-file and LWM2M_T8_TOKEN"):
        t8_token(parser.parse_args(["network", "--t8-token-file", str(file)]))
    monkeypatch.setenv(T8_TOKEN_ENV, " ")
    with pytest.raises(InputError, match="LWM2M_T8_TOKEN: the T8 token is empty"):
        t8_token(parser.parse_args(["network"]))
