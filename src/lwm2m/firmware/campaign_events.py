"""What campaigns report, as the server reports its own events: frozen dataclasses with
``to_json()`` and a ``type``, so that they go on the server's event stream (``GET /api/events``)
beside ``registered`` and ``notification`` (:meth:`CampaignRunner.subscribe`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from lwm2m.firmware.campaign import TERMINAL, CampaignRecord, DeviceProgress, DeviceState


@dataclass(frozen=True, slots=True)
class CampaignDeviceChanged:
    """A device's progress in campaign ``campaign`` changed (state, result, error...)."""

    campaign: str
    endpoint: str
    state: DeviceState
    attempts: int
    error: str | None
    result: int | None
    method: str | None
    transport: str | None

    @classmethod
    def of(cls, campaign: str, device: DeviceProgress) -> CampaignDeviceChanged:
        return cls(
            campaign,
            device.endpoint,
            device.state,
            device.attempts,
            device.error,
            device.result,
            device.method,
            device.transport,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "type": "campaignDevice",
            "campaign": self.campaign,
            "endpoint": self.endpoint,
            "state": self.state.value,
            "attempts": self.attempts,
            "error": self.error,
            "result": self.result,
            "method": self.method,
            "transport": self.transport,
        }


@dataclass(frozen=True, slots=True)
class CampaignStatusChanged:
    """A campaign started, or its status changed (paused with its ``reason``, resumed,
    cancelled, completed); ``finished`` of its ``devices`` are done."""

    campaign: str
    status: str
    reason: str | None
    devices: int
    finished: int

    @classmethod
    def of(cls, record: CampaignRecord, counts: dict[DeviceState, int]) -> CampaignStatusChanged:
        finished = sum(count for state, count in counts.items() if state in TERMINAL)
        return cls(record.id, record.status.value, record.reason, sum(counts.values()), finished)

    def to_json(self) -> dict[str, object]:
        return {
            "type": "campaignStatus",
            "campaign": self.campaign,
            "status": self.status,
            "reason": self.reason,
            "devices": self.devices,
            "finished": self.finished,
        }


CampaignEvent: TypeAlias = CampaignDeviceChanged | CampaignStatusChanged
