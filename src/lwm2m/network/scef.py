"""The SCEF: the three T8 APIs over one emulated network, the SMSC that delivers device
triggers (and serves SMPP), and the events between them.

:meth:`Scef.poll` runs the network's timers and the APIs' own (NIDD duration, subscription
expiry, loss-of-connectivity detection, SMS validity), turns network events into T8
callbacks and SMS, and hands back every callback due; :meth:`Scef.next_deadline` says when
to poll again. No I/O, no clock.
"""

from __future__ import annotations

from typing import Any

from lwm2m.network.core import Network
from lwm2m.network.monitoring import Monitoring, Triggering
from lwm2m.network.nidd import Callback, Nidd
from lwm2m.network.smsc import Smsc, SmscConfig
from lwm2m.network.ue import (
    BecameReachable,
    Detached,
    EnteredIdle,
    MtDelivered,
    MtExpired,
    SmsFromUe,
    UplinkData,
)


class Scef:
    def __init__(self, network: Network, sms: SmscConfig | None = None) -> None:
        self.network = network
        self.smsc = Smsc(network, sms)
        self.nidd = Nidd(network)
        self.monitoring = Monitoring(network)
        self.triggering = Triggering(network, self.smsc)

    def poll(self, now: float) -> list[Callback]:
        """Advance everything to ``now``; the callbacks to send, in order."""
        self.network.advance(now)
        for event in self.network.take_events():
            if isinstance(event, UplinkData):
                self.nidd.uplink(event.imsi, event.data)
            elif isinstance(event, MtDelivered):
                self.nidd.delivery_ended(event.tag, "SUCCESS")
            elif isinstance(event, MtExpired):
                self.nidd.delivery_ended(event.tag, "FAILURE_TIMEOUT")
            elif isinstance(event, BecameReachable):
                self.monitoring.reachable(event.imsi, event.until, now)
            elif isinstance(event, EnteredIdle):
                self.monitoring.idle(event, now)
            elif isinstance(event, Detached):
                self.monitoring.detached(event.imsi, now)
            elif isinstance(event, SmsFromUe):
                self.smsc.from_ue(event.imsi, event.tpdu, now)
        for imsi in self.network.changed:
            self.monitoring.recheck(imsi)
        self.smsc.advance(now)
        for outcome in self.smsc.outcomes:
            self.triggering.delivery_result(outcome.tag, outcome.result)
        self.smsc.outcomes.clear()
        self.nidd.advance(now)
        self.monitoring.advance(now)
        self.triggering.advance(now)
        callbacks: list[Callback] = []
        for api in (self.nidd, self.monitoring, self.triggering):
            callbacks.extend(api.outbox)
            api.outbox.clear()
        return callbacks

    def next_deadline(self, now: float) -> float | None:
        deadlines = [
            deadline
            for deadline in (
                self.network.next_deadline(now),
                self.nidd.next_deadline(),
                self.monitoring.next_deadline(),
                self.triggering.next_deadline(),
                self.smsc.next_deadline(now),
            )
            if deadline is not None
        ]
        return min(deadlines) if deadlines else None

    def status(self, now: float) -> dict[str, Any]:
        """``GET /api/network``: modems, SIMs, radio state, buffered MT data, counters."""
        return {
            **self.network.to_json(now),
            "scef": {
                "niddConfigurations": len(self.nidd.configs),
                "monitoringSubscriptions": len(self.monitoring.resources),
                "triggeringTransactions": len(self.triggering.resources),
                "uplinkWithoutConfiguration": self.nidd.uplink_without_configuration,
            },
            "sms": self.smsc.status(now),
        }
