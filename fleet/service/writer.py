"""Batched registry writes: liveness fields, state-change audit records, candidates."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, update

from fleet.registry import Registry
from fleet.registry.models import AuditRow, NodeRow
from fleet.service.dispatch import Candidate
from fleet.service.liveness import NodeLive, Transition

log = logging.getLogger(__name__)
CHUNK = 5000  # rows per transaction: bounds the memory a 100,000-node flush needs


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
        plain: list[dict[str, Any]] = []
        beats: list[dict[str, Any]] = []
        now = dt.datetime.now(dt.UTC)
        for n in nodes:
            if n.uid not in known:
                continue
            row: dict[str, Any] = {
                "k_uid": n.uid,
                "state": n.state.value,
                "state_since": _ts(n.since),
                "last_seen_at": _ts(n.seen_at),
                "updated_at": now,
            }
            if n.uptime is None:
                plain.append(row)
            else:
                row.update(
                    uptime=n.uptime,
                    last_heartbeat_at=_ts(n.seen_at),
                    rssi=n.rssi,
                    free_heap=n.free_heap,
                    fw_version=n.fw_version,
                )
                beats.append(row)
        # one executemany per shape and chunk: far cheaper than loading ORM rows
        for rows in (plain, beats):
            for k in range(0, len(rows), CHUNK):
                chunk = rows[k : k + CHUNK]
                cols: dict[str, Any] = {c: bindparam(c) for c in chunk[0] if c != "k_uid"}
                stmt = update(NodeRow).where(NodeRow.uid == bindparam("k_uid")).values(cols)
                with self.registry.session() as s:
                    s.connection().execute(stmt, chunk)
                self.rows_written += len(chunk)
        records = [
            {
                "at": _ts(t.at),
                "actor": self.actor,
                "action": "node.state",
                "node_uid": t.uid,
                "outcome": "ok",
                "detail": {"from": t.old.value, "to": t.new.value, "reason": t.reason},
            }
            for t in transitions
            if t.uid in known
        ]
        # append-only rows, inserted with one executemany per chunk (a whole fleet coming
        # back is 100,000 records; ORM objects for them would stall the hot path)
        for k in range(0, len(records), CHUNK):
            with self.registry.session() as s:
                s.connection().execute(insert(AuditRow), records[k : k + CHUNK])
            self.audits_written += len(records[k : k + CHUNK])
        for c in candidates:
            if self.registry.note_candidate(c.hardware_id, c.node_type, c.fw_version):
                self.registry.audit(
                    "node.unregistered",
                    detail={"hardware_id": c.hardware_id, "node_type": c.node_type},
                    actor=self.actor,
                )
