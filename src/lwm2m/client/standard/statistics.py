"""Connectivity Statistics object (/7): traffic counters collected between Start and Stop."""

from __future__ import annotations

from lwm2m.client.objects import SimpleObject
from lwm2m.model import ObjectModel

SMS_TX = 0
SMS_RX = 1
TX_DATA = 2
RX_DATA = 3
MAX_MESSAGE_SIZE = 4
AVERAGE_MESSAGE_SIZE = 5
START = 6
STOP = 7
COLLECTION_PERIOD = 8

COUNTERS = (SMS_TX, SMS_RX, TX_DATA, RX_DATA, MAX_MESSAGE_SIZE, AVERAGE_MESSAGE_SIZE)


class ConnectivityStatisticsObject(SimpleObject):
    """Counters grow through :meth:`record` while collecting.

    Handlers get no clock, so a collection started by Start begins at the next :meth:`record`
    or :meth:`advance`, and a Collection Period ends it at the first call after it elapsed.
    """

    def __init__(self, model: ObjectModel, *, collection_period: int = 0) -> None:
        values = {rid: 0 for rid in COUNTERS} | {COLLECTION_PERIOD: collection_period}
        super().__init__(
            model,
            {0: values},
            executors={START: self._start, STOP: self._stop},
            creatable=False,
        )
        self.collecting = False
        self._started_at: float | None = None
        self._tx_bytes = self._rx_bytes = self._messages = self._total_bytes = 0

    def advance(self, now: float) -> None:
        if not self.collecting:
            return
        if self._started_at is None:
            self._started_at = now
        period = self.get(0, COLLECTION_PERIOD)
        assert isinstance(period, int)
        if period > 0 and now - self._started_at >= period:
            self.collecting = False

    def record(self, now: float, *, sent: int = 0, received: int = 0) -> None:
        """Count one message of ``sent`` or ``received`` bytes (IP headers included)."""
        self.advance(now)
        if not self.collecting:
            return
        self._tx_bytes += sent
        self._rx_bytes += received
        self._messages += 1
        self._total_bytes += sent + received
        max_size = self.get(0, MAX_MESSAGE_SIZE)
        assert isinstance(max_size, int)
        self.set(0, TX_DATA, self._tx_bytes // 1024)
        self.set(0, RX_DATA, self._rx_bytes // 1024)
        self.set(0, MAX_MESSAGE_SIZE, max(max_size, sent + received))
        self.set(0, AVERAGE_MESSAGE_SIZE, self._total_bytes // self._messages)

    def _start(self, instance_id: int, args: str) -> None:
        for rid in COUNTERS:
            self.set(0, rid, 0)
        self._tx_bytes = self._rx_bytes = self._messages = self._total_bytes = 0
        self._started_at = None
        self.collecting = True

    def _stop(self, instance_id: int, args: str) -> None:
        self.collecting = False
