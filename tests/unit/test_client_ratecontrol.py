"""APN rate control on the device (client/ratecontrol.py): notifications beyond the window are
held, merged per observation (latest value wins) and sent when the window allows; nothing
else is held and nothing is dropped.  Also the block size that fits a NIDD packet."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lwm2m.client.cellular import fitting_block_szx
from lwm2m.client.ratecontrol import RateControlledEndpoint, UplinkLimit
from lwm2m.coap.codes import Code
from lwm2m.coap.config import DEFAULT, EndpointConfig
from lwm2m.coap.endpoint import StaleHandleError
from lwm2m.coap.events import (
    Event,
    ExchangeKey,
    FailureReason,
    ObservationCancelled,
    ObservationKey,
    Peer,
)
from lwm2m.coap.options import EMPTY_OPTIONS, Options
from lwm2m.transport.modem.commands import ApnRateControl, RateUnit

SERVER = "scs-as"
A = ObservationKey(SERVER, b"a")
B = ObservationKey(SERVER, b"b")


@dataclass
class Recorder:
    """The inner endpoint: one datagram per call, notifications recorded by payload."""

    config: EndpointConfig = DEFAULT
    notified: list[tuple[bytes, bytes, bool]] = field(default_factory=list)
    out: list[tuple[bytes, Peer]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    observing: set[ObservationKey] = field(default_factory=lambda: {A, B})

    def notify(
        self,
        observation: ObservationKey,
        code: Code,
        *,
        now: float,
        options: Options = EMPTY_OPTIONS,
        payload: bytes = b"",
        confirmable: bool = False,
    ) -> None:
        if observation not in self.observing:
            raise StaleHandleError("gone")
        self.notified.append((observation.token, payload, confirmable))
        self.out.append((payload, SERVER))

    def send_request(
        self, peer: Peer, code: Code, *, now: float, options: Options, payload: bytes
    ) -> int:
        self.out.append((payload, peer))
        return len(self.out)

    def respond(
        self, exchange: ExchangeKey, code: Code, *, now: float, options: Options, payload: bytes
    ) -> ObservationKey | None:
        self.out.append((payload, exchange.peer))
        return None

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self.out = self.out, []
        return out

    def next_event(self) -> Event | None:
        return self.events.pop(0) if self.events else None

    def receive(self, data: bytes, peer: Peer, now: float) -> None: ...
    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None: ...
    def cancel(self, handle: int, now: float) -> None: ...


def _notify(limited: RateControlledEndpoint, key: ObservationKey, value: bytes, now: float,
            confirmable: bool = False) -> None:  # fmt: skip
    limited.notify(key, Code.CONTENT, now=now, payload=value, confirmable=confirmable)
    limited.datagrams_to_send()


def test_notifications_beyond_the_window_are_held_merged_and_sent_later() -> None:
    inner = Recorder()
    limited = RateControlledEndpoint(inner, UplinkLimit(2, 60.0))
    _notify(limited, A, b"a1", 0.0)
    _notify(limited, B, b"b1", 1.0)
    _notify(limited, A, b"a2", 2.0)  # the window is full: held
    _notify(limited, A, b"a3", 3.0, confirmable=True)  # replaces a2
    _notify(limited, B, b"b2", 4.0)
    assert [payload for _, payload, _ in inner.notified] == [b"a1", b"b1"]
    assert (limited.held, limited.merged) == (2, 1)
    assert limited.get_timer() == 60.0  # when the first uplink leaves the window

    limited.handle_timer(60.0)
    limited.datagrams_to_send()
    assert inner.notified[-1] == (b"a", b"a3", True)  # latest value, confirmable kept
    assert limited.held == 1 and limited.get_timer() == 61.0
    limited.handle_timer(61.0)
    limited.datagrams_to_send()
    assert [payload for _, payload, _ in inner.notified] == [b"a1", b"b1", b"a3", b"b2"]
    assert limited.held == 0 and limited.get_timer() is None


def test_requests_and_responses_are_never_held_but_spend_the_budget() -> None:
    inner = Recorder()
    limited = RateControlledEndpoint(inner, UplinkLimit(1, 3600.0))
    limited.send_request(SERVER, Code.POST, now=0.0, options=EMPTY_OPTIONS, payload=b"update")
    limited.datagrams_to_send()
    limited.respond(ExchangeKey(SERVER, 1), Code.CONTENT, now=1.0, options=EMPTY_OPTIONS,
                    payload=b"answer")  # fmt: skip
    assert len(limited.datagrams_to_send()) == 1  # over the limit, and still sent
    _notify(limited, A, b"a1", 2.0)
    assert inner.notified == [] and limited.held == 1
    assert limited.get_timer() == 3600.0


def test_a_held_notification_of_an_ended_observation_is_forgotten() -> None:
    inner = Recorder()
    limited = RateControlledEndpoint(inner, UplinkLimit(1, 60.0))
    _notify(limited, A, b"a1", 0.0)
    _notify(limited, B, b"b1", 1.0)
    _notify(limited, A, b"a2", 2.0)
    inner.events.append(ObservationCancelled(B, FailureReason.RESET))
    assert isinstance(limited.next_event(), ObservationCancelled)
    inner.observing.discard(A)  # A ended inside the endpoint without an event reaching us
    limited.handle_timer(60.0)
    assert limited.held == 0 and [p for _, p, _ in inner.notified] == [b"a1"]


def test_no_limit_passes_everything_and_a_new_limit_releases_what_was_held() -> None:
    inner = Recorder()
    limited = RateControlledEndpoint(inner, UplinkLimit(0, 60.0))
    _notify(limited, A, b"a1", 0.0)
    assert limited.held == 1 and limited.get_timer() is None
    limited.set_limit(None, 5.0)
    assert [p for _, p, _ in inner.notified] == [b"a1"]
    for value in (b"a2", b"a3", b"a4"):
        _notify(limited, A, value, 6.0)
    assert len(inner.notified) == 4


@pytest.mark.parametrize(
    ("control", "limit"),
    [
        (ApnRateControl(1, False, RateUnit.HOUR, 120), UplinkLimit(120, 3600.0)),
        (ApnRateControl(1, False, RateUnit.DAY, 0), UplinkLimit(0, 86_400.0)),
        (ApnRateControl(1, False, RateUnit.UNRESTRICTED, None), None),
        (ApnRateControl(1, True, RateUnit.MINUTE, None), None),
    ],
)
def test_the_limit_from_cgapnrc(control: ApnRateControl, limit: UplinkLimit | None) -> None:
    assert UplinkLimit.of(control) == limit


@pytest.mark.parametrize(
    ("packet", "szx"),
    [(1358, 6), (1024, 5), (512, 4), (300, 3), (140, 0)],
)
def test_block_size_fits_the_packet_with_header_and_options(packet: int, szx: int) -> None:
    endpoint = "urn:imei:866425031234567"
    assert fitting_block_szx(packet, endpoint) == szx
    assert 2 ** (szx + 4) + 96 + len(endpoint) <= packet


def test_a_packet_too_small_for_any_block_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        fitting_block_szx(120, "urn:imei:866425031234567")
