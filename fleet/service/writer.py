"""Batched registry writes: liveness fields, state-change audit records, candidates."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Sequence
from typing import Any

from fleet.registry import Registry
from fleet.service.dispatch import Candidate
from fleet.service.liveness import NodeLive, Transition

log = logging.getLogger(__name__)


def _ts(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


class RegistryWriter:
    """Writes what the hot path collected, in one transaction per call (run it in a thread)."""

    def __init__(self, registry: Registry, actor: str = "fleet-serve") -> None:
        self.registry = registry
        self.actor = actor
        self.rows_written = 0
        self.audits_written = 0

    def write(
        self,
        nodes: Sequence[NodeLive],
        transitions: Sequence[Transition],
        candidates: Sequence[Candidate],
        known: Collection[str],
    ) -> None:
        """Persist node fields of registered nodes, audit state changes, note candidates."""
        changes: dict[str, dict[str, Any]] = {}
        for n in nodes:
            if n.uid not in known:
                continue
            fields: dict[str, Any] = {"state": n.state.value, "state_since": _ts(n.since)}
            if n.seen_at is not None:
                fields["last_seen_at"] = _ts(n.seen_at)
            if n.uptime is not None:
                fields["uptime"] = n.uptime
                fields["last_heartbeat_at"] = _ts(n.seen_at)
            if n.rssi is not None:
                fields["rssi"] = n.rssi
            if n.free_heap is not None:
                fields["free_heap"] = n.free_heap
            if n.fw_version is not None:
                fields["fw_version"] = n.fw_version
            changes[n.uid] = fields
        if changes:
            self.rows_written += self.registry.update_many(changes)
        records = [
            {
                "action": "node.state",
                "node_uid": t.uid,
                "actor": self.actor,
                "detail": {"from": t.old.value, "to": t.new.value, "reason": t.reason},
            }
            for t in transitions
            if t.uid in known
        ]
        if records:
            self.registry.audit_many(records)
            self.audits_written += len(records)
        for c in candidates:
            if self.registry.note_candidate(c.hardware_id, c.node_type, c.fw_version):
                self.registry.audit(
                    "node.unregistered",
                    detail={"hardware_id": c.hardware_id, "node_type": c.node_type},
                    actor=self.actor,
                )
