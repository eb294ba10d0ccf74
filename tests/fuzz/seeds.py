"""Write the seed corpora under ``tests/fuzz/corpus/<target>/``: ``python -m tests.fuzz.seeds``.

Seeds are valid inputs made by our own encoders (every format, case and data type, the edges
of each range, NaN where a format carries it), the regressions fuzzing found, and for the cores
whole conversations: responses and notifications carrying the tokens the deterministic cores
use, Update, Send and De-register.  File names are content hashes, so re-running is idempotent.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path as FilePath

import cbor2

from lwm2m.coap import Block, Code, Message, Options, Type, encode_tcp
from lwm2m.codec import CodecError
from lwm2m.codec.base import ContentFormat
from lwm2m.model import (
    MultipleResource,
    Node,
    ObjectInstance,
    ObjectLink,
    ObjectNode,
    Path,
    ResourceInstance,
    SingleResource,
    TimestampedValues,
    Value,
    node_to_values,
)
from lwm2m.model.values import INT64_MAX, INT64_MIN, UINT64_MAX
from tests.codec_fixtures import ACCESS_CONTROL_OBJECT, DEVICE_INSTANCE
from tests.fuzz.codec_targets import CASES, CODECS, MODELS
from tests.fuzz.core_targets import ENDPOINT, ClientRun, ServerRun, frame

CORPUS = FilePath(__file__).parent / "corpus"

ALL_TYPES_INSTANCE = ObjectInstance(
    0,
    {
        0: SingleResource(0, "Grüße ✓ \U0001f600"),
        1: SingleResource(1, INT64_MIN),
        2: SingleResource(2, UINT64_MAX),
        3: SingleResource(3, -0.1),
        4: SingleResource(4, True),
        5: SingleResource(5, b"\x00\xff\x10"),
        6: SingleResource(6, 1_700_000_000),
        7: SingleResource(7, ObjectLink(3, 0)),
        8: SingleResource(8, "</3/0>;ver=1.1"),
        12: MultipleResource(12, {0: 0, 7: INT64_MAX + 1}),
        13: MultipleResource(13, {0: 1e300, 1: 5e-324}),
    },
)
UNMODELLED_INSTANCE = ObjectInstance(
    0,
    {
        0: SingleResource(0, "text"),
        1: SingleResource(1, -5),
        2: SingleResource(2, 2.5),
        3: SingleResource(3, False),
        4: SingleResource(4, b"raw"),
        5: SingleResource(5, UINT64_MAX),
    },
)
SAMPLES: dict[Path, list[Node]] = {
    Path.of(3, 0): [DEVICE_INSTANCE, ObjectInstance(0, {})],
    Path.of(3): [ObjectNode(3, {0: DEVICE_INSTANCE})],
    Path.of(3, 0, 0): [SingleResource(0, "Open Mobile Alliance"), SingleResource(0, "é\U0001f600")],
    Path.of(3, 0, 6): [MultipleResource(6, {0: 1, 1: 5}), MultipleResource(6, {})],
    Path.of(3, 0, 7, 1): [ResourceInstance(1, 5000)],
    Path.of(9999, 0): [ALL_TYPES_INSTANCE],
    Path.of(9999, 0, 2): [SingleResource(2, UINT64_MAX), SingleResource(2, 0)],
    Path.of(9999, 0, 3): [SingleResource(3, 1.5), SingleResource(3, math.nan)],
    Path.of(9999, 0, 5): [SingleResource(5, b"\x00firmware\xff"), SingleResource(5, b"")],
    Path.of(9999, 0, 6): [SingleResource(6, INT64_MIN), SingleResource(6, 1_700_000_000)],
    Path.of(9999, 0, 12): [MultipleResource(12, {0: UINT64_MAX, 1: 1})],
    Path.of(9998, 0): [UNMODELLED_INSTANCE],
    Path.of(9998, 0, 1): [SingleResource(1, -5), SingleResource(1, "x"), SingleResource(1, 1.25)],
    Path.of(65, 0): [
        ObjectInstance(
            0, {0: MultipleResource(0, {0: ObjectLink(66, 0)}), 1: SingleResource(1, "a")}
        )
    ],
    Path.of(2): [ACCESS_CONTROL_OBJECT],
}
VALUES: dict[Path, Value] = {
    **{Path.of(3, 0, rid): v for rid, v in ((0, "Open Mobile Alliance"), (9, 95), (13, 1))},
    Path.of(9999, 0, 2): UINT64_MAX,
    Path.of(9999, 1, 3): 2.5,
    Path.of(9998, 0, 0): "unmodelled",
}
BATCHES = [
    TimestampedValues(1_700_000_000.0, {Path.of(3, 0, 9): 90, Path.of(3, 0, 13): 1_700_000_000}),
    TimestampedValues(1_700_000_060.5, {Path.of(3, 0, 9): 89}),
    TimestampedValues(None, {Path.of(9998, 0, 1): -1}),
]
LINKS = (
    b'</>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</1>;ver=1.1,</1/0>,</3/0>',
    b'</3/0>;pmin=60;pmax=300,</3/0/7>;dim=2;gt=50;lt=42.2;st=0.5,</a>;title="say \\"hi\\""',
)

REGRESSIONS: dict[str, list[bytes]] = {
    # Decoders must refuse what the model cannot hold (DecodeError), not pass it on.
    "codec-senml-json": [b"\x02" + b'[{"bn":"/3/0/","n":"0","vs":"\\ud800"}]'],
    "codec-lwm2m-json": [b"\x00" + b'{"bn":"/3/0/","e":[{"n":"0","sv":"\\udfff"}]}'],
    "codec-senml-cbor": [b"\x0f" + cbor2.dumps([{-3: 2**1100, 0: "/9999/0/1", 2: 1}])],
    "codec-link": [b"\x00" + b'<>;i="\\\x01"'],
    "flat-json": [b'{"/3/0/0": "\\ud800"}', b'{"/9999/0/3": 1' + b"0" * 400 + b"}"],
}


def _case_index(content_format: ContentFormat, kind: str, path: Path) -> int:
    return CASES[content_format].index((kind, path))


def codec_seeds(content_format: ContentFormat) -> Iterator[bytes]:
    codec = CODECS.get(content_format)
    attempts: list[tuple[str, Path, Callable[[], bytes]]] = []
    for path, nodes in SAMPLES.items():
        for node in nodes:
            attempts.append(("node", path, lambda p=path, n=node: codec.encode(p, n, MODELS)))
    attempts.append(("values", Path.of(), lambda: codec.encode_values(VALUES, MODELS)))
    attempts.append(("batches", Path.of(), lambda: codec.encode_timestamped(BATCHES, MODELS)))
    attempts.append(("paths", Path.of(), lambda: codec.encode_paths(list(VALUES))))
    for kind, path, encode in attempts:
        if (kind, path) not in CASES[content_format]:
            continue
        try:
            payload = encode()
        except CodecError:
            continue
        yield bytes((_case_index(content_format, kind, path),)) + payload
    if content_format is ContentFormat.LINK:
        index = _case_index(content_format, "links", Path.of())
        yield from (bytes((index,)) + links for links in LINKS)


def flat_json_seeds() -> Iterator[bytes]:
    import json

    from lwm2m.codec.flat_json import values_to_json

    for path, nodes in SAMPLES.items():
        for node in nodes:
            yield json.dumps(
                values_to_json(node_to_values(path, node)), ensure_ascii=False
            ).encode()


def coap_messages() -> list[Message]:
    return [
        Message(Type.CON, Code.GET, 0x1234, b"\xde\xad", Options.build(uri_path=("3", "0"))),
        Message(
            Type.ACK,
            Code.CONTENT,
            7,
            b"\x01",
            Options.build(content_format=11542, observe=12, block2=Block(3, True, 6)),
            bytes(40),
        ),
        Message(
            Type.CON,
            Code.POST,
            9,
            b"",
            Options.build(uri_path=("rd",), uri_query=("ep=a", "lt=30"), echo=b"\x01" * 8),
            b"</1/0>",
        ),
        Message(Type.NON, Code.CSM, options=Options([(2, b"\x04\x80"), (4, b"")])),
        Message(Type.RST, Code.EMPTY, 3),
    ]


# -- conversations -----------------------------------------------------------------------------


def _reply(request: Message, code: Code, options: Options, payload: bytes = b"") -> bytes:
    return Message(Type.ACK, code, request.message_id, request.token, options, payload).encode()


def server_seeds() -> Iterator[bytes]:
    """Answer the server's requests as a device would, then Update, Send and De-register."""
    senml = CODECS.get(ContentFormat.SENML_JSON)
    run = ServerRun()
    location = Message.decode(run.sent[0][0]).options.location_path
    script: list[bytes] = []
    answered = 1
    for _ in range(6):  # answer every request the server sent so far, in order
        pending = run.sent[answered:]
        if not pending:
            break
        for datagram, _ in pending:
            answered += 1
            request = Message.decode(datagram)
            if request.type is not Type.CON:
                continue
            body, fmt = _device_answer(request)
            options = Options.build(content_format=fmt, observe=request.options.observe and 1)
            reply = _reply(request, Code.CONTENT, options, body)
            script.append(frame(4, reply))
            run.step(4, reply, run_peer())
    yield b"".join(script)
    notify = _notification(run, senml.encode(Path.of(3, 0), DEVICE_INSTANCE, MODELS))
    send = Message(
        Type.CON,
        Code.POST,
        0x0201,
        b"\x05",
        Options.build(uri_path=("dp",), content_format=110),
        senml.encode_timestamped(
            [TimestampedValues(1_700_000_000.0, {Path.of(3303, 0, 5700): 21.5})], MODELS
        ),
    ).encode()
    update = Message(
        Type.CON,
        Code.POST,
        0x0202,
        b"\x06",
        Options.build(uri_path=location, uri_query=("lt=600",), content_format=40),
        b"</1/0>,</3/0>",
    ).encode()
    deregister = Message(Type.CON, Code.DELETE, 0x0203, b"\x07", Options.build(uri_path=location))
    yield b"".join(script) + frame(4, notify) + frame(4, send)
    yield b"".join(script) + frame(8, update) + frame(1, send) + frame(0, deregister.encode())
    yield frame(0, send) + frame(2, REGISTER_AGAIN)


def run_peer() -> tuple[str, int]:
    from tests.fuzz.core_targets import DEVICE

    return DEVICE


REGISTER_AGAIN = Message(
    Type.CON,
    Code.POST,
    0x0301,
    b"\x09",
    Options.build(uri_path=("rd",), uri_query=("ep=other", "lt=60", "b=UQ"), content_format=40),
    b"</3/0>",
).encode()


def _device_answer(request: Message) -> tuple[bytes, int]:
    senml = CODECS.get(ContentFormat.SENML_JSON)
    path = (
        Path.of(*(int(s) for s in request.options.uri_path)) if request.options.uri_path else None
    )
    if path is None:  # a composite: FETCH with the paths in the body
        values = {Path.of(3, 0, 9): 95, Path.of(3303, 0, 5700): 21.5}
        return senml.encode_values(values, MODELS), 110
    node = DEVICE_INSTANCE if path.depth == 2 else SingleResource(0, "lwm2m project")
    return senml.encode(path, node, MODELS), 110


def _notification(run: ServerRun, payload: bytes) -> bytes:
    """A CON notification of the first observation (its token, a newer Observe number)."""
    token = Message.decode(run.sent[1][0]).token
    return Message(
        Type.CON, Code.CONTENT, 0x0401, token, Options.build(observe=5, content_format=110), payload
    ).encode()


def client_seeds() -> Iterator[bytes]:
    """What a server asks a registered client: reads, writes, observe, discover, execute."""
    ClientRun()  # the conversation must start from a registered client
    requests = [
        (Code.GET, "3/0", Options.build(accept=110)),
        (Code.GET, "3/0/0", Options.build()),
        (Code.GET, "3/0", Options.build(observe=0, accept=112)),
        (Code.GET, "3", Options.build(accept=40)),
        (Code.PUT, "3/0/14", Options.build(content_format=0)),
        (Code.POST, "3/0/4", Options.build()),
        (Code.PUT, "1/0", Options.build(uri_query=("pmin=1", "pmax=5"))),
        (Code.FETCH, "", Options.build(content_format=110, accept=110)),
        (Code.DELETE, "3303/0", Options.build()),
    ]
    bodies = {Code.PUT: b"+01:00", Code.FETCH: b'[{"n":"/3/0/9"},{"n":"/3/0/13"}]'}
    script = []
    for index, (code, path, options) in enumerate(requests):
        segments = tuple(s for s in path.split("/") if s)
        message = Message(
            Type.CON,
            code,
            0x5000 + index,
            bytes((index + 1,)),
            Options.build(uri_path=segments, **_option_fields(options)),
            bodies.get(code, b"") if code is not Code.PUT or path == "3/0/14" else b"",
        )
        script.append(frame(4 * (index % 3), message.encode()))
    yield b"".join(script)
    yield from script


def _option_fields(options: Options) -> dict[str, object]:
    fields: dict[str, object] = {}
    if options.accept is not None:
        fields["accept"] = options.accept
    if options.content_format is not None:
        fields["content_format"] = options.content_format
    if options.observe is not None:
        fields["observe"] = options.observe
    if options.uri_query:
        fields["uri_query"] = options.uri_query
    return fields


def dtls_seeds() -> Iterator[bytes]:
    register = frame(0, _register_for(ENDPOINT))
    yield b"\x01" + register
    yield b"\x01" + register + frame(4, _register_for("someone-else"))
    yield b"\x00" + frame(1, bytes.fromhex("16fefd0000000000000000002f"))  # a bare record header
    yield b"\x00" + frame(0, _register_for(ENDPOINT))


def _register_for(endpoint: str) -> bytes:
    return Message(
        Type.CON,
        Code.POST,
        0x0601,
        b"\x0a",
        Options.build(uri_path=("rd",), uri_query=(f"ep={endpoint}", "b=U"), content_format=40),
        b"</3/0>",
    ).encode()


def all_seeds() -> dict[str, list[bytes]]:
    seeds: dict[str, list[bytes]] = {}
    for content_format in ContentFormat:
        name = f"codec-{content_format.name.lower().replace('_', '-')}"
        seeds[name] = list(codec_seeds(content_format))
    seeds["flat-json"] = list(flat_json_seeds())
    seeds["coap-datagram"] = [m.encode() for m in coap_messages()]
    seeds["coap-stream"] = [bytes((7,)) + b"".join(encode_tcp(m) for m in coap_messages())]
    seeds["server"] = list(server_seeds())
    seeds["client"] = list(client_seeds())
    seeds["dtls"] = list(dtls_seeds())
    for name, extra in REGRESSIONS.items():
        seeds[name] += extra
    return seeds


def write(corpus: FilePath = CORPUS) -> int:
    count = 0
    for name, inputs in all_seeds().items():
        directory = corpus / name
        directory.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (directory / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
            count += 1
    return count


if __name__ == "__main__":
    sys.stdout.write(f"{write()} seeds under {CORPUS}\n")
