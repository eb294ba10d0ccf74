"""PSK credentials: keys never show, identities never shared, specs parsed strictly."""

from __future__ import annotations

import logging
import pickle

import pytest

from lwm2m.security.credentials import MemoryPskStore, Psk, PskCredential, PskIdentity, Secret

KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


def test_secret_never_shows_its_value(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(KEY)
    credential = PskCredential("urn:imei:1", Psk(b"id", secret))
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("credential %s %r", credential, credential)
    for text in (repr(secret), str(secret), f"{secret}", repr(credential), caplog.text):
        assert KEY.hex() not in text and "0x" not in text
    assert repr(secret) == "Secret(****)"
    assert secret.reveal() == KEY
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_secret_compares_by_value() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret(KEY[:-1])
    assert hash(Secret(KEY)) == hash(Secret(b"other"))


def test_bad_hex_key_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError) as error:
        Secret.from_hex("zz-my-secret")
    assert "my-secret" not in str(error.value)


def test_psk_limits() -> None:
    with pytest.raises(ValueError):
        Psk(b"", Secret(KEY))
    with pytest.raises(ValueError):
        Psk(b"x" * 129, Secret(KEY))
    with pytest.raises(ValueError):
        Psk(b"id", Secret(b""))
    with pytest.raises(ValueError):
        Psk(b"id", Secret(bytes(33)))
    with pytest.raises(ValueError):
        Psk(b"\xff\xfe", Secret(KEY))


def test_parse_spec_with_urn_endpoint() -> None:
    credential = PskCredential.parse(f"urn:imei:490154203237518:device-1:{KEY.hex()}")
    assert credential.endpoint == "urn:imei:490154203237518"
    assert credential.psk == Psk(b"device-1", Secret(KEY))
    assert credential.identity == PskIdentity("urn:imei:490154203237518", b"device-1")
    for bad in ("ep:id", f":id:{KEY.hex()}", f"ep::{KEY.hex()}", "ep:id:nothex"):
        with pytest.raises(ValueError):
            PskCredential.parse(bad)


def test_store_lookup_replace_remove() -> None:
    store = MemoryPskStore((PskCredential("ep1", Psk(b"id1", Secret(KEY))),))
    assert store.lookup(b"id1") == store.get("ep1")
    store.set(PskCredential("ep1", Psk(b"id1-new", Secret(KEY))))
    assert store.lookup(b"id1") is None
    assert store.lookup(b"id1-new") is not None
    assert len(store) == 1
    assert store.remove("ep1") and not store.remove("ep1")
    assert store.lookup(b"id1-new") is None and len(store) == 0


def test_store_refuses_an_identity_of_another_endpoint() -> None:
    store = MemoryPskStore((PskCredential("ep1", Psk(b"shared", Secret(KEY))),))
    with pytest.raises(ValueError, match="ep1"):
        store.set(PskCredential("ep2", Psk(b"shared", Secret(b"other key"))))
    credential = store.lookup(b"shared")
    assert credential is not None and credential.endpoint == "ep1"
    assert [c.endpoint for c in store] == ["ep1"]
