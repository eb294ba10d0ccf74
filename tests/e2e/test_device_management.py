"""ETS int-201 to int-261: reads and writes in every format, composite operations, Discover,
Execute, Write-Attributes and the errors the device must give, over real UDP."""

from __future__ import annotations

import time

import pytest

from lwm2m.client.engine import DeviceRequest
from lwm2m.client.standard.device import Reboot
from lwm2m.coap import Code
from lwm2m.codec import ContentFormat
from lwm2m.codec.link import Link, parse_links
from lwm2m.model import (
    Path,
    ResourceInstance,
    SingleResource,
    Value,
    node_to_values,
)
from lwm2m.operations import (
    EmptyResponse,
    ErrorResponse,
    LinksResponse,
    NodeResponse,
    NotificationAttributes,
    ValuesResponse,
)
from tests.e2e.conftest import EP, Device

pytestmark = pytest.mark.timeout(30)

CF = ContentFormat
IDENTITY = {
    "/3/0/0": "lwm2m project",
    "/3/0/1": "NB-Sim 1",
    "/3/0/2": "356938035643809",
    "/3/0/3": "1.0.0",
}


Values = dict[Path | str, Value]


def local(device: Device, path: Path | str) -> dict[Path, Value]:
    """What the device holds under ``path`` (read locally, as server 1 would)."""
    target = Path.parse(str(path))
    return node_to_values(target, device.tree.read(target, server_id=1))


def flat(values: dict[Path, Value]) -> dict[str, Value]:
    return {str(path): value for path, value in values.items()}


async def read_values(device: Device, path: str, fmt: int) -> dict[Path, Value]:
    """Read ``path`` in ``fmt``; checks the Accept that went and the Content-Format that came."""
    mark = len(device.tap.log)
    response = await device.server.read(EP, path, fmt=fmt)
    assert isinstance(response, NodeResponse), response
    request, answer = device.tap.exchange(mark)
    assert (request.code, request.options.accept) == (Code.GET, fmt)
    assert (answer.code, answer.options.content_format) == (Code.CONTENT, fmt)
    assert response.content_format == fmt
    return node_to_values(Path.parse(path), response.node)


def without_clock(values: dict[Path, Value]) -> dict[Path, Value]:
    """/3/0/13 (Current Time) ticks between two reads."""
    return {path: value for path, value in values.items() if path != Path.of(3, 0, 13)}


async def test_int_201_read_device_object_text(device: Device) -> None:
    for path, expected in IDENTITY.items():
        values = await read_values(device, path, CF.TEXT)
        assert values == {Path.parse(path): expected}
    battery = await read_values(device, "/3/0/9", CF.TEXT)
    assert battery == {Path.of(3, 0, 9): 100}


@pytest.mark.parametrize(
    "fmt",
    [
        pytest.param(CF.TLV, id="int_203_tlv"),
        pytest.param(CF.LWM2M_JSON, id="int_204_json"),
        pytest.param(CF.SENML_JSON, id="int_231_senml_json"),
        pytest.param(CF.SENML_CBOR, id="int_232_senml_cbor"),
    ],
)
async def test_int_203_204_231_232_read_device_object(device: Device, fmt: int) -> None:
    values = await read_values(device, "/3/0", fmt)
    assert flat(values).items() >= IDENTITY.items()
    assert values[Path.of(3, 0, 6, 0)] == 1  # Available Power Sources: internal battery
    assert values[Path.of(3, 0, 7, 0)] == 3600
    assert values[Path.of(3, 0, 16)] == "UQ"
    assert abs(int(values[Path.of(3, 0, 13)]) - time.time()) < 5  # type: ignore[arg-type]
    assert without_clock(values) == without_clock(local(device, "/3/0"))


async def test_int_211_read_device_object_cbor(device: Device) -> None:
    """Plain CBOR (60) carries single values only."""
    for path, expected in {**IDENTITY, "/3/0/9": 100, "/3/0/6/0": 1}.items():
        values = await read_values(device, path, CF.CBOR)
        assert values == {Path.parse(path): expected}
    mark = len(device.tap.log)
    response = await device.server.read(EP, "/3/0", fmt=CF.CBOR)
    assert response == ErrorResponse(Code.NOT_ACCEPTABLE, response.message)  # type: ignore[union-attr]
    assert device.tap.exchange(mark)[1].code is Code.NOT_ACCEPTABLE


WRITES = [
    pytest.param(CF.TEXT, {"/3/0/14": "+02:00"}, "/3/0/14", id="int_205_text"),
    pytest.param(CF.TLV, {"/3/0/14": "+03:00", "/3/0/15": "Europe/Kyiv"}, "/3/0", id="int_212_tlv"),
    pytest.param(
        CF.LWM2M_JSON, {"/3/0/14": "-05:00", "/3/0/15": "America/NY"}, "/3/0", id="int_215_json"
    ),
    pytest.param(CF.CBOR, {"/1/0/2": 7}, "/1/0/2", id="int_220_cbor"),
    pytest.param(CF.SENML_JSON, {"/1/0/2": 8, "/1/0/3": 80}, "/1/0", id="int_233_senml_json"),
    pytest.param(
        CF.SENML_CBOR, {"/19/0/0/0": b"\x00\xff", "/19/0/3": "x"}, "/19/0", id="int_234_senml_cbor"
    ),
]


@pytest.mark.parametrize(("fmt", "values", "target"), WRITES)
async def test_int_205_212_215_220_233_234_write(
    device: Device, fmt: int, values: Values, target: str
) -> None:
    mark = len(device.tap.log)
    single = Path.parse(target).is_resource  # replaced (PUT); an instance is updated (POST)
    response = await device.server.write(EP, target, values, partial=not single, fmt=fmt)
    assert response == EmptyResponse()
    request, answer = device.tap.exchange(mark)
    expected = Code.PUT if single else Code.POST
    assert (request.code, request.options.content_format) == (expected, fmt)
    assert request.options.uri_path == tuple(target.strip("/").split("/"))
    assert answer.code is Code.CHANGED
    for path, value in values.items():
        assert local(device, path) == {Path.parse(str(path)): value}


async def test_int_221_security_object_is_out_of_bounds(device: Device) -> None:
    server = device.server
    mark = len(device.tap.log)
    uri = device.tree.read(Path.of(0, 0, 0), server_id=None)
    responses = [
        await server.read(EP, "/0"),
        await server.write(EP, "/0/0/0", {"/0/0/0": "coap://evil"}),
        await server.write_attributes(EP, "/0/0/0", NotificationAttributes(pmin=1)),
    ]
    assert [getattr(r, "code", r) for r in responses] == [Code.UNAUTHORIZED] * 3
    assert [answer.code for _, answer in device.tap.exchanges(mark) if answer] == [
        Code.UNAUTHORIZED
    ] * 3
    assert device.tree.read(Path.of(0, 0, 0), server_id=None) == uri


async def test_int_222_read_object(device: Device) -> None:
    values = await read_values(device, "/3", CF.SENML_CBOR)
    assert {path.ids[:2] for path in values} == {(3, 0)}
    assert flat(values).items() >= IDENTITY.items()
    cells = await read_values(device, "/3371", CF.TLV)
    assert {path.ids[1] for path in cells} == {0, 1}


async def test_int_223_read_object_instance(device: Device) -> None:
    values = await read_values(device, "/4/0", CF.SENML_CBOR)
    assert values[Path.of(4, 0, 0)] == 7  # NB-IoT
    assert values[Path.of(4, 0, 1, 1)] == 6
    assert values == local(device, "/4/0")


async def test_int_224_read_resource(device: Device) -> None:
    values = await read_values(device, "/6/0/0", CF.SENML_JSON)
    assert values == {Path.of(6, 0, 0): pytest.approx(50.7374)}
    multiple = await read_values(device, "/3/0/6", CF.TLV)
    assert multiple == {Path.of(3, 0, 6, 0): 1}


async def test_int_225_read_resource_instance(device: Device) -> None:
    mark = len(device.tap.log)
    response = await device.server.read(EP, "/4/0/1/1")
    assert response == NodeResponse(ResourceInstance(1, 6), CF.SENML_CBOR)
    request, _ = device.tap.exchange(mark)
    assert request.options.uri_path == ("4", "0", "1", "1")
    values = await read_values(device, "/11/0/9/0", CF.TEXT)
    assert values == local(device, "/11/0/9/0")


async def test_int_226_partial_update(device: Device) -> None:
    before = local(device, "/1/0")
    response = await device.server.write(EP, "/1/0", {"/1/0/2": 3, "/1/0/3": 33}, partial=True)
    assert response == EmptyResponse()
    after = local(device, "/1/0")
    assert (after[Path.of(1, 0, 2)], after[Path.of(1, 0, 3)]) == (3, 33)
    unchanged = {p: v for p, v in before.items() if p.ids[2] not in (2, 3)}
    assert {p: after[p] for p in unchanged} == unchanged


async def test_int_227_replace(device: Device) -> None:
    """Write-Replace of an instance: what the request leaves out is gone."""
    assert local(device, "/19/0")[Path.of(19, 0, 4)] == "CBOR"
    mark = len(device.tap.log)
    values: Values = {"/19/0/0/0": b"new", "/19/0/0/1": b"data", "/19/0/3": "replaced"}
    assert await device.server.write(EP, "/19/0", values) == EmptyResponse()
    request, answer = device.tap.exchange(mark)
    assert (request.code, answer.code) == (Code.PUT, Code.CHANGED)
    assert flat(local(device, "/19/0")) == values
    # A resource replace on a multiple resource drops instances too
    assert await device.server.write(EP, "/19/0/0", {"/19/0/0/5": b"only"}) == EmptyResponse()
    assert flat(local(device, "/19/0/0")) == {"/19/0/0/5": b"only"}


async def test_int_228_write_resource_instance(device: Device) -> None:
    mark = len(device.tap.log)
    response = await device.server.write(EP, "/19/0/0/0", {"/19/0/0/0": b"\x01\x02"})
    assert response == EmptyResponse()
    request, answer = device.tap.exchange(mark)
    assert (request.code, request.options.uri_path) == (Code.PUT, ("19", "0", "0", "0"))
    assert answer.code is Code.CHANGED
    assert local(device, "/19/0/0") == {Path.of(19, 0, 0, 0): b"\x01\x02"}
    # A new instance of a multiple resource is created by writing it
    assert await device.server.write(EP, "/19/0/0/3", {"/19/0/0/3": b"+"}) == EmptyResponse()
    assert flat(local(device, "/19/0/0")) == {"/19/0/0/0": b"\x01\x02", "/19/0/0/3": b"+"}


async def composite(device: Device, paths: list[Path | str], fmt: int) -> ValuesResponse:
    """Read-Composite; checks every FETCH (more than one when block-wise) and its answer."""
    mark = len(device.tap.log)
    response = await device.server.read_composite(EP, paths, fmt=fmt)
    assert isinstance(response, ValuesResponse), response
    for request, answer in device.tap.exchanges(mark):
        assert (request.code, request.options.accept) == (Code.FETCH, fmt)
        assert answer is not None
        assert (answer.code, answer.options.content_format) == (Code.CONTENT, fmt)
    return response


async def test_int_229_read_composite(device: Device) -> None:
    response = await composite(device, ["/3/0/0", "/3/0/2", "/1/0/1", "/4/0/1"], CF.SENML_JSON)
    assert flat(dict(response.values)) == {
        "/3/0/0": "lwm2m project",
        "/3/0/2": "356938035643809",
        "/1/0/1": 30,
        "/4/0/1/0": 7,
        "/4/0/1/1": 6,
    }


async def test_int_235_read_composite_of_the_root_path(device: Device) -> None:
    mark = len(device.tap.log)
    response = await composite(device, ["/"], CF.SENML_CBOR)
    assert len(device.tap.exchanges(mark)) > 1  # too big for one datagram: Block2
    objects = {path.ids[0] for path in response.values}
    assert {1, 3, 4, 6, 10, 11, 3370, 3371} <= objects
    assert 0 not in objects  # Security is not for a management server
    device_object = without_clock(local(device, "/3/0"))
    assert without_clock(dict(response.values)).items() >= device_object.items()


async def test_int_236_read_composite_partial_presence(device: Device) -> None:
    """Paths the device does not have are left out; what it has is returned."""
    response = await composite(device, ["/3/0/0", "/3/0/22", "/3303/0/5700"], CF.SENML_CBOR)
    assert flat(dict(response.values)) == {"/3/0/0": "lwm2m project"}


async def test_int_280_read_composite_of_objects_and_instances(device: Device) -> None:
    response = await composite(device, ["/6", "/3371/1", "/3/0/9"], CF.SENML_CBOR)
    expected = {**local(device, "/6"), **local(device, "/3371/1"), Path.of(3, 0, 9): 100}
    assert dict(response.values) == expected


async def test_int_281_read_composite_partial_success(device: Device) -> None:
    """A composite that names only absent things is still a success, with no values."""
    response = await composite(device, ["/3303", "/3/1"], CF.SENML_JSON)
    assert dict(response.values) == {}


async def test_int_230_write_composite(device: Device) -> None:
    mark = len(device.tap.log)
    values: Values = {"/3/0/14": "+05:30", "/1/0/3": 120, "/19/0/0/0": b"\xca\xfe"}
    response = await device.server.write_composite(EP, values)
    assert response == EmptyResponse()
    request, answer = device.tap.exchange(mark)
    assert (request.code, request.options.content_format) == (Code.IPATCH, CF.SENML_CBOR)
    assert answer.code is Code.CHANGED
    for path, value in values.items():
        assert flat(local(device, path)) == {path: value}


async def test_int_257_write_composite_senml_json_and_read_back(device: Device) -> None:
    values: Values = {"/3/0/15": "Asia/Tokyo", "/19/0/3": "composite"}
    response = await device.server.write_composite(EP, values, fmt=CF.SENML_JSON)
    assert response == EmptyResponse()
    back = await composite(device, list(values), CF.SENML_JSON)
    assert flat(dict(back.values)) == values
    refused = await device.server.write_composite(EP, {"/3/0/0": "x", "/3/0/14": "+01:00"})
    assert isinstance(refused, ErrorResponse) and refused.code is Code.METHOD_NOT_ALLOWED


@pytest.mark.device(lwm2m_version="1.0")
async def test_int_237_read_without_accept(device: Device) -> None:
    """A 1.0 registration: single values are read with no Accept and come as text/plain."""
    mark = len(device.tap.log)
    response = await device.server.read(EP, "/3/0/0")
    assert response == NodeResponse(SingleResource(0, "lwm2m project"), CF.TEXT)
    request, answer = device.tap.exchange(mark)
    assert request.options.accept is None
    assert (answer.options.content_format, answer.payload) == (CF.TEXT, b"lwm2m project")


async def test_int_241_execute_reboot(device: Device) -> None:
    mark = len(device.tap.log)
    assert await device.server.execute(EP, "/3/0/4") == EmptyResponse()
    request, answer = device.tap.exchange(mark)
    assert (request.code, request.options.uri_path, answer.code) == (
        Code.POST,
        ("3", "0", "4"),
        Code.CHANGED,
    )
    assert await device.wait_client(DeviceRequest) == DeviceRequest(Reboot())
    refused = await device.server.execute(EP, "/3/0/0")
    assert isinstance(refused, ErrorResponse) and refused.code is Code.METHOD_NOT_ALLOWED


async def test_int_256_writing_a_read_only_resource_is_405(device: Device) -> None:
    mark = len(device.tap.log)
    response = await device.server.write(EP, "/3/0/0", {"/3/0/0": "forged"})
    assert isinstance(response, ErrorResponse) and response.code is Code.METHOD_NOT_ALLOWED
    assert device.tap.exchange(mark)[1].code is Code.METHOD_NOT_ALLOWED
    assert local(device, "/3/0/0") == {Path.of(3, 0, 0): "lwm2m project"}


def link_map(links: tuple[Link, ...]) -> dict[str, dict[str, str | None]]:
    return {link.target: dict(link.attributes) for link in links}


async def test_int_260_discover_with_dim_and_attributes(device: Device) -> None:
    attributes = NotificationAttributes(pmin=10, pmax=60)
    assert await device.server.write_attributes(EP, "/3/0", attributes) == EmptyResponse()
    mark = len(device.tap.log)
    response = await device.server.discover(EP, "/3/0")
    assert isinstance(response, LinksResponse)
    request, answer = device.tap.exchange(mark)
    assert (request.options.accept, answer.options.content_format) == (CF.LINK, CF.LINK)
    assert link_map(tuple(parse_links(answer.payload.decode()))) == link_map(response.links)
    links = link_map(response.links)
    assert links["/3/0"] == {"pmin": "10", "pmax": "60"}
    assert links["/3/0/6"] == {"dim": "1"}
    assert links["/3/0/0"] == {}
    assert "/3/0/4" in links  # executables are listed too
    objects = await device.server.discover(EP, "/3", depth=1)
    assert isinstance(objects, LinksResponse)
    assert set(link_map(objects.links)) == {"/3", "/3/0"}


async def test_int_261_write_attributes_on_a_multi_instance_resource(device: Device) -> None:
    attributes = NotificationAttributes(pmin=2, pmax=20, gt=3700.0, lt=3500.0, st=50.0)
    mark = len(device.tap.log)
    assert await device.server.write_attributes(EP, "/3/0/7", attributes) == EmptyResponse()
    request, answer = device.tap.exchange(mark)
    assert request.code is Code.PUT and not request.payload
    assert set(request.options.uri_query) == {
        "pmin=2",
        "pmax=20",
        "gt=3700.0",
        "lt=3500.0",
        "st=50.0",
    }
    assert answer.code is Code.CHANGED
    response = await device.server.discover(EP, "/3/0/7")
    assert isinstance(response, LinksResponse)
    links = link_map(response.links)
    assert links["/3/0/7"] == {
        "dim": "1",
        "pmin": "2",
        "pmax": "20",
        "gt": "3700.0",
        "lt": "3500.0",
        "st": "50.0",
    }
    assert links["/3/0/7/0"] == {}
    bad = await device.server.write_attributes(EP, "/3/0/99", NotificationAttributes(pmin=1))
    assert isinstance(bad, ErrorResponse) and bad.code is Code.NOT_FOUND
