"""The client side of the Telekom timer rules: a queue-mode device wakes at pmax to report
(with its Update when that would come due before the next pmax), and registers with a
lifetime below the extended T3412 the network granted."""

from __future__ import annotations

from lwm2m.client.engine import ClientConfig
from lwm2m.client.registering import lifetime_within_psm
from lwm2m.coap.codes import Code
from tests.protocol.client_harness import T0, Harness

PMAX = 60


def observed_with_pmax(lifetime: int) -> tuple[Harness, int]:
    """A queue-mode device observed at /3/0/9 with pmax 60 s, asleep between reports."""
    h = Harness(binding="UQ", lifetime=lifetime, config=ClientConfig(awake_window=10))
    h.start()
    written = h.ask(Code.PUT, "3/0/9", uri_query=(f"pmax={PMAX}",))
    assert written.code is Code.CHANGED
    handle = h.server.request(Code.GET, "3/0/9", observe=0)
    h.advance(1)
    assert handle in h.server.responses
    return h, handle


def test_queue_mode_client_notifies_every_pmax_without_waiting_for_an_update() -> None:
    h, handle = observed_with_pmax(lifetime=3600)
    start = h.now
    h.advance(30)
    assert h.engine.asleep
    h.advance(5 * PMAX)
    times = [r.at - start for r in h.server.notifications[handle]]
    assert len(times) == 5
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert all(abs(gap - PMAX) < 1.5 for gap in gaps), gaps
    assert h.server.of("rd/5a3f") == []  # no Update yet: it is due at about 3,240 s
    assert h.engine.asleep  # and back to sleep after each report


def test_the_update_rides_on_the_pmax_wake_before_it_comes_due() -> None:
    h, handle = observed_with_pmax(lifetime=300)  # Update due 207 s after registering
    start = h.now
    h.advance(420)
    updates = [r.at - start for r in h.server.of("rd/5a3f", Code.POST)]
    reports = [r.at - start for r in h.server.notifications[handle]]
    assert len(reports) == 7
    assert len(updates) == 2 and updates[0] < 190  # at the 180 s wake, not at 207 s
    assert all(min(abs(u - n) for n in reports) < 0.2 for u in updates)  # the same wake


def test_lifetime_follows_the_granted_psm_timer() -> None:
    h = Harness(lifetime=86400)
    h.engine.psm_granted(3600, h.now)
    h.start()
    (register,) = h.server.of("rd", Code.POST)
    assert "lt=3507" in register.message.options.uri_query  # T3412 less MAX_TRANSMIT_WAIT
    h.engine.psm_granted(None, h.now)  # PSM gone: the configured lifetime again
    h.advance(1)
    (update,) = h.server.of("rd/5a3f", Code.POST)
    assert "lt=86400" in update.message.options.uri_query
    h.engine.psm_granted(172800, h.now)  # above the configured lifetime: it stays
    h.advance(1)
    assert len(h.server.of("rd/5a3f", Code.POST)) == 1
    assert h.now < T0 + 10


def test_lifetime_within_psm() -> None:
    assert lifetime_within_psm(86400, 3600, 93.0) == 3507
    assert lifetime_within_psm(600, 3600, 93.0) == 600
    assert lifetime_within_psm(0, 3600, 93.0) == 3507  # no expiry configured
    assert lifetime_within_psm(86400, 60, 93.0) == 86400  # no room below T3412: unchanged
