"""Firmware campaigns and their devices' progress in the database (tables ``campaigns`` and
``campaign_devices``, schema version 5), so that a restarted server takes them up again."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from lwm2m.firmware.campaign import (
    CampaignRecord,
    CampaignSpec,
    DeviceProgress,
    DeviceState,
    MemoryCampaignStore,
    Status,
)
from lwm2m.storage.writer import Writer

_PUT_CAMPAIGN = "INSERT OR REPLACE INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?)"
_PUT_DEVICE = "INSERT OR REPLACE INTO campaign_devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


class SqliteCampaignStore(MemoryCampaignStore):
    """Answered from memory; every change also goes to the database, written behind."""

    def __init__(self, writer: Writer, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._writer = writer
        for record in _load_campaigns(connection):
            super().put_campaign(record)
        devices: dict[str, list[DeviceProgress]] = {}
        for campaign, *row in connection.execute("SELECT * FROM campaign_devices"):
            devices.setdefault(campaign, []).append(_device(row))
        for campaign, progress in devices.items():
            super().put_devices(campaign, progress)

    # Rows are made here, on the event loop: the writer thread must not read records and
    # progress that the loop goes on changing.

    def put_campaign(self, record: CampaignRecord) -> None:
        super().put_campaign(record)
        self._writer.submit((_PUT_CAMPAIGN, _same, [_campaign_row(record)]))

    def put_devices(self, campaign_id: str, devices: Iterable[DeviceProgress]) -> None:
        devices = list(devices)
        super().put_devices(campaign_id, devices)
        rows = [_device_row(campaign_id, device) for device in devices]
        self._writer.submit((_PUT_DEVICE, _same, rows))


def _same(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return rows


def _campaign_row(r: CampaignRecord) -> tuple[object, ...]:
    finished, failed = r.baseline
    return (r.id, r.spec_text(), r.created, r.status.value, r.reason, finished, failed)


def _device_row(campaign_id: str, d: DeviceProgress) -> tuple[object, ...]:
    return (
        campaign_id,
        d.endpoint,
        d.wave,
        d.state.value,
        d.attempts,
        d.error,
        d.result,
        d.method,
        d.changed,
    )


def _device(row: Any) -> DeviceProgress:
    """A ``campaign_devices`` row, the campaign column left out."""
    endpoint, wave, state, attempts, error, result, method, changed = row
    return DeviceProgress(
        endpoint, wave, DeviceState(state), attempts, error, result, method, changed
    )


def _load_campaigns(connection: sqlite3.Connection) -> list[CampaignRecord]:
    return [
        CampaignRecord(
            campaign_id,
            CampaignSpec.from_json(json.loads(spec)),
            created,
            Status(status),
            reason,
            (finished, failed),
        )
        for campaign_id, spec, created, status, reason, finished, failed in connection.execute(
            "SELECT * FROM campaigns"
        )
    ]
