"""Parsed object lists are shared per payload; errors and long payloads are never cached."""

from __future__ import annotations

import pytest

from lwm2m.operations import ObjectLinks, OperationError

PAYLOAD = b'</>;rt="oma.lwm2m";ct=112,</1/0>,</3/0>,</3303>;ver=1.1'


def test_the_same_payload_gives_the_same_object() -> None:
    first = ObjectLinks.from_payload(PAYLOAD)
    assert ObjectLinks.from_payload(bytes(PAYLOAD)) is first
    assert first.content_formats == (112,)
    assert [entry.id for entry in first.objects] == [1, 3, 3303]


def test_a_bad_payload_fails_every_time() -> None:
    for _ in range(2):
        with pytest.raises(OperationError):
            ObjectLinks.from_payload(b"</3/0/0/1>")


def test_long_payloads_are_parsed_each_time() -> None:
    payload = ",".join(f"</3303/{i}>" for i in range(600)).encode()
    assert len(payload) > 4096
    first = ObjectLinks.from_payload(payload)
    again = ObjectLinks.from_payload(payload)
    assert first == again and first is not again
