"""`Node`: the registry's view of one node, handed out as an immutable value."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fleet.registry.models import NodeRow


@dataclass(frozen=True)
class Node:
    uid: str
    hardware_id: str | None
    mac: str | None
    chip: str
    node_type: str
    gh_uid: str
    zone_uid: str
    name: str | None
    fw_version: str | None
    state: str
    state_since: dt.datetime | None
    last_seen_at: dt.datetime | None
    last_heartbeat_at: dt.datetime | None
    rssi: int | None
    free_heap: int | None
    uptime: int | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: NodeRow) -> Node:
        return cls(
            uid=row.uid,
            hardware_id=row.hardware_id,
            mac=row.mac,
            chip=row.chip,
            node_type=row.node_type,
            gh_uid=row.gh_uid,
            zone_uid=row.zone_uid,
            name=row.name,
            fw_version=row.fw_version,
            state=row.state,
            state_since=row.state_since,
            last_seen_at=row.last_seen_at,
            last_heartbeat_at=row.last_heartbeat_at,
            rssi=row.rssi,
            free_heap=row.free_heap,
            uptime=row.uptime,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
