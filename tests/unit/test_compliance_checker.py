"""The compliance checker on hand-made device data: each verdict, each timer comparison true,
false and unknown, the security mode, and a JSON report a page can render without the code."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping

import pytest

from lwm2m.compliance.checker import (
    ComplianceReport,
    DeviceData,
    ObjectResult,
    Outcome,
    ResourceResult,
    TimerCheck,
    Verdict,
    check,
)
from lwm2m.compliance.profile import Obligation
from lwm2m.model import ObjectLink, Path, Value

NO_VALUE = None
"""A resource Discover lists but Read does not return (Execute, write-only)."""

Tree = dict[int, dict[int, dict[int, Value | dict[int, Value] | None]]]


def baseline() -> Tree:
    """A device with every mandatory object and resource of the profile, and its timers."""
    return {
        1: {
            0: {
                0: 1,
                1: 86400,
                2: 60,
                3: 43200,
                6: True,
                7: "U",
                8: NO_VALUE,
                9: NO_VALUE,
                10: ObjectLink(11, 0),
                12: 0,
                13: 0,
            }
        },
        3: {
            0: {
                0: "ACME",
                1: "Meter 1",
                2: "4711",
                3: "1.0",
                4: NO_VALUE,
                5: NO_VALUE,
                6: {0: 1},
                9: 80,
                11: {0: 0},
                16: "UQ",
                18: "A",
                20: 0,
            }
        },
        4: {
            0: {
                0: 7,
                1: {0: 7},
                2: -90,
                3: -10,
                4: {0: "10.0.0.1"},
                7: {0: "iot"},
                8: 1,
                9: 1,
                10: 262,
                11: 10,
                12: 5,
            }
        },
        5: {0: {0: NO_VALUE, 1: "", 2: NO_VALUE, 3: 0, 5: 0, 7: "", 9: 2}},
        6: {0: {0: 50.7, 1: 7.1, 5: 1_700_000_000}},
        10: {0: {4: 90000, 9: b"\x05", 11: {0: ObjectLink(11, 0)}}},
        11: {0: {0: "p", 1: "iot", 4: 3, 10: {0: 0}, 11: {0: 0}}},
        19: {0: {0: {0: b"x"}}},
    }


def device(
    tree: Tree,
    *,
    attributes: Mapping[str, Mapping[str, str]] | None = None,
    unavailable: Mapping[int, str] | None = None,
    lifetime: int = 86400,
    security_mode: int | None = None,
) -> DeviceData:
    """DeviceData as the collector would build it for ``tree``: registered objects and
    instances, Discover links (``dim`` for multiple resources), read values."""
    object_links: list[Path] = []
    links: dict[Path, dict[str, str | None]] = {}
    values: dict[Path, Value] = {}
    for oid, instances in tree.items():
        object_links.append(Path.of(oid))
        links[Path.of(oid)] = {}
        for iid, resources in instances.items():
            object_links.append(Path.of(oid, iid))
            links[Path.of(oid, iid)] = {}
            for rid, value in resources.items():
                path = Path.of(oid, iid, rid)
                if isinstance(value, dict):
                    links[path] = {"dim": str(len(value))}
                    values |= {path.child(ri): v for ri, v in value.items()}
                else:
                    links[path] = {}
                    if value is not None:
                        values[path] = value
    for text, attrs in (attributes or {}).items():
        links.setdefault(Path.parse(text), {}).update(attrs)
    return DeviceData(
        endpoint="urn:imei:1",
        lwm2m_version="1.1",
        binding="U",
        queue_mode=True,
        lifetime=lifetime,
        object_links=tuple(object_links),
        links=links,
        values=values,
        unavailable=unavailable or {},
        security_mode=security_mode,
    )


def obj(report: ComplianceReport, object_id: int) -> ObjectResult:
    (found,) = (o for o in report.objects if o.profile.object_id == object_id)
    return found


def res(report: ComplianceReport, path: str) -> ResourceResult:
    (found,) = (r for o in report.objects for r in o.resources if r.path == path)
    return found


def timer(report: ComplianceReport, text: str, scope: str = "/1/0") -> TimerCheck:
    (found,) = (t for t in report.timers if t.text == text and t.scope == scope)
    return found


def test_a_complete_device_passes() -> None:
    report = check(device(baseline()))
    assert report.passed, report.failures
    assert report.failures == ()
    assert obj(report, 3).verdict is Verdict.PASS
    assert res(report, "/3/0/0").value == "ACME"
    assert res(report, "/3/0/0").empty is False
    assert res(report, "/4/0/1").value == {0: 7}
    assert report.device_values == ()


def test_security_and_oscore_are_not_verifiable_and_do_not_fail() -> None:
    report = check(device(baseline()))
    for object_id in (0, 21):
        assert obj(report, object_id).verdict is Verdict.NOT_VERIFIABLE
        assert not obj(report, object_id).failed
        assert {r.verdict for r in obj(report, object_id).resources} == {Verdict.NOT_VERIFIABLE}


def test_objects_the_profile_does_not_require() -> None:
    tree = baseline() | {9: {0: {}}, 3303: {0: {5700: 21.5}}}
    report = check(device(tree))
    assert obj(report, 9).verdict is Verdict.NOT_REQUIRED
    assert obj(report, 9).present
    assert obj(report, 12).verdict is Verdict.NOT_REQUIRED
    assert not obj(report, 12).present
    assert report.other_objects == (3303,)
    assert report.passed


def test_a_missing_mandatory_object_fails_with_each_mandatory_resource() -> None:
    tree = baseline()
    del tree[4]
    report = check(device(tree))
    assert not report.passed
    assert obj(report, 4).verdict is Verdict.MISSING_MANDATORY
    assert obj(report, 4).failed
    missing = {r.path for r in obj(report, 4).resources if r.verdict is Verdict.MISSING_MANDATORY}
    assert missing == {f"/4/*/{rid}" for rid in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 12)}
    assert "/4 Connectivity Monitoring: missing mandatory (object not registered)" in (
        report.failures
    )
    assert "/4/*/8 CellID: missing mandatory" in report.failures
    assert len(report.failures) == 12


def test_a_missing_mandatory_resource_fails() -> None:
    tree = baseline()
    del tree[3][0][1]
    report = check(device(tree))
    assert res(report, "/3/0/1").verdict is Verdict.MISSING_MANDATORY
    assert res(report, "/3/0/1").failed
    assert report.failures == ("/3/0/1 Model Number: missing mandatory",)
    assert [(v.path, v.problem) for v in report.device_values] == [("/3/0/1", "missing")]


def test_a_missing_recommended_resource_is_reported_but_passes() -> None:
    tree = baseline()
    del tree[1][0][2]
    del tree[3][0][5]
    report = check(device(tree))
    assert res(report, "/1/0/2").verdict is Verdict.MISSING_RECOMMENDED
    assert res(report, "/3/0/5").verdict is Verdict.MISSING_RECOMMENDED
    assert not res(report, "/1/0/2").failed
    assert report.passed


def test_optional_objects_and_resources_absent() -> None:
    tree = baseline()
    del tree[10][0][11]  # Activated Profile Names: "Mandatory, if supported"
    report = check(device(tree))
    assert obj(report, 7).verdict is Verdict.OPTIONAL_ABSENT
    assert {r.verdict for r in obj(report, 7).resources} == {Verdict.OPTIONAL_ABSENT}
    assert res(report, "/7/*/6").required is Obligation.IF_SUPPORTED
    assert res(report, "/10/0/11").verdict is Verdict.OPTIONAL_ABSENT
    assert res(report, "/10/0/1").verdict is Verdict.OPTIONAL_ABSENT
    assert report.passed


def test_a_supported_optional_object_must_have_its_mandatory_resources() -> None:
    tree = baseline()
    del tree[10][0][4]  # PSM Timer: optional object, Telekom-mandatory resource
    report = check(device(tree))
    assert res(report, "/10/0/4").verdict is Verdict.MISSING_MANDATORY
    assert not report.passed


@pytest.mark.parametrize(
    ("path", "value"), [("/3/0/0", ""), ("/3/0/2", ""), ("/3/0/11", {}), ("/3/0/16", "")]
)
def test_an_empty_device_value_fails(path: str, value: Value | dict[int, Value]) -> None:
    tree = baseline()
    rid = Path.parse(path).resource_id
    assert rid is not None
    tree[3][0][rid] = value
    report = check(device(tree))
    assert res(report, path).empty is True
    assert res(report, path).verdict is Verdict.EMPTY_VALUE
    assert [(v.path, v.problem) for v in report.device_values] == [(path, "empty")]
    assert not report.passed


def test_empty_values_outside_the_device_object_are_shown_not_failed() -> None:
    report = check(device(baseline()))
    assert res(report, "/5/0/1").empty is True  # Package URI: no download going on
    assert res(report, "/5/0/1").verdict is Verdict.PASS


def test_battery_resources_are_mandatory_only_with_a_battery() -> None:
    tree = baseline()
    del tree[3][0][9]
    del tree[3][0][20]
    with_battery = check(device(tree))
    assert res(with_battery, "/3/0/9").verdict is Verdict.MISSING_MANDATORY
    tree[3][0][6] = {0: 0}  # DC power only
    mains = check(device(tree))
    assert res(mains, "/3/0/9").required is Obligation.OPTIONAL
    assert res(mains, "/3/0/20").verdict is Verdict.OPTIONAL_ABSENT
    assert mains.passed
    del tree[3][0][6]
    unknown = check(device(tree))
    assert res(unknown, "/3/0/9").verdict is Verdict.MISSING_MANDATORY
    assert "taken as battery-powered" in res(unknown, "/3/0/9").detail


def without(data: DeviceData, object_id: int, *, links: bool) -> DeviceData:
    """``data`` as if the device had not answered Read (and Discover, with ``links``)."""
    return dataclasses.replace(
        data,
        links={p: a for p, a in data.links.items() if not links or p.object_id != object_id},
        values={p: v for p, v in data.values.items() if p.object_id != object_id},
    )


def test_an_object_the_device_would_not_show_is_not_verifiable_and_fails() -> None:
    data = device(baseline(), unavailable={6: "Discover: no answer; Read: no answer"})
    report = check(without(data, 6, links=True))
    assert obj(report, 6).verdict is Verdict.NOT_VERIFIABLE
    assert obj(report, 6).failed
    assert report.failures == (
        "/6 Location: not verifiable (Discover: no answer; Read: no answer)",
    )


def test_a_discovered_resource_whose_read_failed_passes_without_a_value() -> None:
    data = device(baseline(), unavailable={4: "Read: 4.05 Method Not Allowed"})
    report = check(without(data, 4, links=False))
    assert obj(report, 4).verdict is Verdict.PASS
    assert obj(report, 4).detail == "Read: 4.05 Method Not Allowed"
    assert res(report, "/4/0/0").value is None
    assert res(report, "/4/0/0").empty is None
    assert res(report, "/4/0/0").detail == "discovered, value not read"


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [(None, Outcome.UNKNOWN), (0, Outcome.PASS), (3, Outcome.PASS), (2, Outcome.FAIL)],
)
def test_security_mode(mode: int | None, outcome: Outcome) -> None:
    report = check(device(baseline(), security_mode=mode))
    assert report.security.outcome is outcome
    assert report.passed  # the mode in use cannot prove which modes a device supports


def test_binding_is_reported() -> None:
    report = check(device(baseline()))
    assert report.binding.registration == "U"
    assert report.binding.queue_mode
    assert report.binding.server_bindings == (("/1/0/7", "U"),)
    assert report.binding.supported == "UQ"


# -- timer rules -------------------------------------------------------------------------------


def timers(
    *,
    psm: int | None = 90000,
    lifetime: int = 86400,
    pmin: int | None = 60,
    pmax: int | None = 43200,
    edrx: bytes | None = b"\x05",
    apn: Mapping[int, Value] | None = None,
    power_saving: int | None = None,
) -> ComplianceReport:
    """Our baseline with these timers; ``power_saving`` is /10/0/13 (bit 1 PSM, bit 2 eDRX)."""
    tree = baseline()
    server, cellular = tree[1][0], tree[10][0]
    server[1] = lifetime
    for rid, value in ((2, pmin), (3, pmax)):
        if value is None:
            del server[rid]
        else:
            server[rid] = value
    for rid, value in ((4, psm), (9, edrx)):
        if value is None:
            del cellular[rid]
        else:
            cellular[rid] = value
    tree[11][0] |= dict(apn or {})
    if power_saving is not None:
        cellular[13] = power_saving
    return check(device(tree))


def test_every_comparison_for_our_defaults_under_a_serving_plmn_rate_control() -> None:
    report = timers(apn={26: 10})  # 10 messages per 6 minutes
    assert [(t.rule, t.text, t.outcome) for t in report.timers] == [
        (1, "T3412 > lifetime", Outcome.PASS),
        (1, "lifetime > pmax", Outcome.PASS),
        (2, "pmin < eDRX", Outcome.PASS),
        (2, "eDRX < pmax", Outcome.PASS),
        (2, "pmax <= rate-control interval", Outcome.FAIL),  # 43200 s > 360 s
        (3, "pmin >= rate-control spacing", Outcome.PASS),  # 60 s >= 36 s
    ]


@pytest.mark.parametrize(
    ("settings", "outcome"),
    [
        ({}, Outcome.PASS),
        ({"psm": 80000}, Outcome.FAIL),
        ({"psm": 86400}, Outcome.FAIL),
        ({"psm": None}, Outcome.UNKNOWN),
        ({"lifetime": 0}, Outcome.FAIL),  # a registration that never expires
    ],
)
def test_t3412_above_lifetime(settings: dict[str, int | None], outcome: Outcome) -> None:
    check_ = timer(timers(**settings), "T3412 > lifetime")
    assert check_.outcome is outcome
    assert check_.rule == 1


@pytest.mark.parametrize(
    ("settings", "outcome"),
    [
        ({}, Outcome.PASS),
        ({"pmax": 86400}, Outcome.FAIL),
        ({"pmax": None}, Outcome.UNKNOWN),
        ({"lifetime": 0}, Outcome.PASS),
    ],
)
def test_lifetime_above_pmax(settings: dict[str, int | None], outcome: Outcome) -> None:
    assert timer(timers(**settings), "lifetime > pmax").outcome is outcome


@pytest.mark.parametrize(
    ("settings", "outcome"),
    [
        ({}, Outcome.PASS),  # 60 s < 81.92 s
        ({"pmin": 90}, Outcome.FAIL),
        ({"pmin": None}, Outcome.PASS),  # no Default Minimum Period: 0
        ({"edrx": None}, Outcome.UNKNOWN),
        ({"edrx": b"\x05\x00"}, Outcome.UNKNOWN),  # not one octet
        ({"power_saving": 0b01}, Outcome.UNKNOWN),  # PSM only: eDRX not active
        ({"power_saving": 0b11}, Outcome.PASS),
    ],
)
def test_pmin_below_edrx(settings: dict[str, object], outcome: Outcome) -> None:
    assert timer(timers(**settings), "pmin < eDRX").outcome is outcome


@pytest.mark.parametrize(
    ("settings", "outcome"),
    [
        ({}, Outcome.PASS),
        ({"pmin": 1, "pmax": 60}, Outcome.FAIL),
        ({"pmax": None}, Outcome.UNKNOWN),
    ],
)
def test_edrx_below_pmax(settings: dict[str, int | None], outcome: Outcome) -> None:
    assert timer(timers(**settings), "eDRX < pmax").outcome is outcome


@pytest.mark.parametrize(
    ("settings", "outcome", "window"),
    [
        ({"pmax": 300, "apn": {26: 10}}, Outcome.PASS, 360.0),  # per 6 min (deci-hour)
        ({"pmax": 361, "apn": {26: 10}}, Outcome.FAIL, 360.0),
        ({"pmax": 3600, "apn": {25: 4, 27: 2}}, Outcome.PASS, 3600.0),  # per hour
        ({"pmax": 43200, "apn": {25: 4, 27: 1}}, Outcome.FAIL, 60.0),  # per minute
        ({"apn": {25: 4, 27: 0}}, Outcome.UNKNOWN, None),  # unrestricted
        ({}, Outcome.UNKNOWN, None),
    ],
)
def test_pmax_within_the_rate_control_interval(
    settings: dict[str, object], outcome: Outcome, window: float | None
) -> None:
    check_ = timer(timers(**settings), "pmax <= rate-control interval")
    assert check_.outcome is outcome
    assert check_.right.seconds == window
    assert check_.rule == 2


@pytest.mark.parametrize(
    ("settings", "outcome", "spacing"),
    [
        ({"pmin": 36, "apn": {26: 10}}, Outcome.PASS, 36.0),
        ({"pmin": 30, "apn": {26: 10}}, Outcome.FAIL, 36.0),
        ({"pmin": 900, "apn": {25: 4, 27: 2}}, Outcome.PASS, 900.0),
        ({"pmin": 60, "apn": {26: 0}}, Outcome.FAIL, math.inf),  # no uplink allowed at all
        ({}, Outcome.UNKNOWN, None),
    ],
)
def test_pmin_respects_the_rate_control(
    settings: dict[str, object], outcome: Outcome, spacing: float | None
) -> None:
    check_ = timer(timers(**settings), "pmin >= rate-control spacing")
    assert (check_.outcome, check_.right.seconds, check_.rule) == (outcome, spacing, 3)


@pytest.mark.parametrize(
    ("bearer", "resource", "octet", "seconds"),
    [
        (7, 9, 0x05, 81.92),  # NB-IoT, NB-S1
        (7, 9, 0x35, 81.92),  # paging time window bits ignored
        (7, 9, 0x00, 20.48),  # values NB-S1 does not define mean 0010
        (7, 9, 0x0F, 10485.76),
        (6, 8, 0x00, 5.12),  # LTE-FDD, WB-S1
        (6, 8, 0x04, 61.44),
    ],
)
def test_edrx_cycle_from_the_bearer_and_octet(
    bearer: int, resource: int, octet: int, seconds: float
) -> None:
    tree = baseline()
    tree[4][0][0] = bearer
    del tree[10][0][9]
    tree[10][0][resource] = bytes([octet])
    edrx = timer(check(device(tree)), "pmin < eDRX").right
    assert edrx.seconds == seconds
    assert edrx.source.startswith(f"/10/0/{resource}")


def test_attributes_override_the_defaults_with_inheritance() -> None:
    data = device(baseline(), attributes={"/3": {"pmax": "600"}, "/3/0/9": {"pmin": "100"}})
    report = check(data)
    pmin_edrx = timer(report, "pmin < eDRX", scope="/3/0/9 attributes")
    assert (pmin_edrx.left.seconds, pmin_edrx.outcome) == (100.0, Outcome.FAIL)
    assert pmin_edrx.left.source == "pmin attribute of /3/0/9"
    edrx_pmax = timer(report, "eDRX < pmax", scope="/3/0/9 attributes")
    assert edrx_pmax.right.source == "pmax attribute of /3"
    object_level = timer(report, "pmin < eDRX", scope="/3 attributes")
    assert object_level.left.source == "/1/0/2"  # no pmin at /3: the server's default
    lifetime = timer(report, "lifetime > pmax", scope="/3 attributes").left
    assert lifetime.source == "registration lifetime = 86400"


def test_lifetime_zero_is_infinite_in_json() -> None:
    report = timers(lifetime=0)
    left = timer(report, "lifetime > pmax").left.to_json()
    assert left == {"name": "lifetime", "seconds": None, "display": "infinite", "source": "/1/0/1"}


# -- the JSON report ---------------------------------------------------------------------------


def test_the_json_report_describes_itself() -> None:
    tree = baseline()
    del tree[11]
    report = check(device(tree))
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert data["passed"] is False
    assert data["reportVersion"] == 1
    assert set(data["legend"]["verdicts"]) == {v.value for v in Verdict}
    assert data["legend"]["timerRules"]["1"].startswith("Extended T3412")
    apn = next(o for o in data["objects"] if o["objectId"] == 11)
    assert apn["name"] == "APN connection profile"
    assert (apn["required"], apn["present"], apn["verdict"]) == (
        "mandatory",
        False,
        "missing mandatory",
    )
    first = apn["resources"][0]
    assert first["path"] == "/11/*/0"
    assert (first["telekom"], first["oma"], first["required"]) == (
        "mandatory",
        "mandatory if supported",
        "mandatory",
    )
    device_ = next(o for o in data["objects"] if o["objectId"] == 3)
    multiple = next(r for r in device_["resources"] if r["resourceId"] == 11)
    assert multiple["value"] == {"0": 0}
    assert (
        data["failures"][0]
        == "/11 APN connection profile: missing mandatory (object not registered)"
    )
    assert {"text", "scope", "left", "right", "outcome", "rule"} <= set(data["timers"][0])
