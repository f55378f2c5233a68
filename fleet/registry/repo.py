"""The one module that holds a SQLAlchemy Session: nodes, audit log, candidates."""

from __future__ import annotations

import dataclasses
import getpass
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fleet.errors import Conflict, NodeNotFound, ValidationError
from fleet.protocol.ids import (
    HardwareId,
    Mac,
    check_chip,
    check_node_type,
    check_uid,
)
from fleet.registry.db import make_engine, migrate
from fleet.registry.models import AuditRow, CandidateRow, NodeRow, utcnow
from fleet.registry.node import Node

# Everything but the key and the bookkeeping timestamps can be changed.
_EDITABLE = {f.name for f in dataclasses.fields(Node)} - {"uid", "created_at", "updated_at"}


def default_actor() -> str:
    """`user@host` of whoever runs this process."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class NodeSpec:
    """What registering a node needs; validated on construction."""

    uid: str
    gh_uid: str
    zone_uid: str
    node_type: str = "unknown"
    hardware_id: str | None = None
    mac: str | None = None
    chip: str = "esp32"
    name: str | None = None
    fw_version: str | None = None

    def __post_init__(self) -> None:
        check_uid(self.uid, "node_uid")
        check_uid(self.gh_uid, "gh_uid")
        check_uid(self.zone_uid, "zone_uid")
        check_node_type(self.node_type)
        object.__setattr__(self, "chip", check_chip(self.chip))
        hw = HardwareId(self.hardware_id).value if self.hardware_id else None
        mac = Mac(self.mac).value if self.mac else None
        if mac and hw and Mac(mac).hardware_id.value != hw:
            raise ValidationError(
                f"node {self.uid}: MAC {mac} does not match hardware_id {hw}", node_uid=self.uid
            )
        if hw and not mac:
            mac = HardwareId(hw).mac.value
        if mac and not hw:
            hw = Mac(mac).hardware_id.value
        object.__setattr__(self, "hardware_id", hw)
        object.__setattr__(self, "mac", mac)


class Registry:
    """Nodes, their liveness fields, the audit log and unregistered candidates."""

    def __init__(self, engine: Engine, actor: str | None = None) -> None:
        self.engine = engine
        self.actor = actor or default_actor()
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, actor: str | None = None, upgrade: bool = True) -> Registry:
        """Connect to `url` and (by default) migrate it to the newest schema."""
        engine = make_engine(url)
        if upgrade:
            migrate(engine)
        return cls(engine, actor)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A Session that commits on success and rolls back on any error."""
        with self._sessions() as s, s.begin():
            yield s

    # -- nodes ---------------------------------------------------------------------

    def add_node(self, spec: NodeSpec, *, audit_detail: dict[str, Any] | None = None) -> Node:
        """Register one node; a duplicate uid or hardware_id is a `Conflict`."""
        return self.add_nodes([spec], action="node.add", audit_detail=audit_detail)[0]

    def add_nodes(
        self,
        specs: Iterable[NodeSpec],
        *,
        action: str = "node.add",
        audit_detail: dict[str, Any] | None = None,
    ) -> list[Node]:
        """Register several nodes in one transaction: all or nothing."""
        out: list[Node] = []
        specs = list(specs)
        try:
            with self.session() as s:
                for spec in specs:
                    if s.get(NodeRow, spec.uid) is not None:
                        raise Conflict(f"node {spec.uid} is already registered", node_uid=spec.uid)
                    if spec.hardware_id and s.scalar(
                        select(NodeRow.uid).where(NodeRow.hardware_id == spec.hardware_id)
                    ):
                        raise Conflict(
                            f"node {spec.uid}: hardware_id {spec.hardware_id} already belongs "
                            "to another node",
                            node_uid=spec.uid,
                        )
                    row = NodeRow(
                        uid=spec.uid,
                        hardware_id=spec.hardware_id,
                        mac=spec.mac,
                        chip=spec.chip,
                        node_type=spec.node_type,
                        gh_uid=spec.gh_uid,
                        zone_uid=spec.zone_uid,
                        name=spec.name,
                        fw_version=spec.fw_version,
                        state="UNKNOWN",
                    )
                    s.add(row)
                    s.flush()
                    out.append(Node.from_row(row))
                    s.add(self._audit_row(action, spec.uid, "ok", audit_detail))
        except IntegrityError as exc:
            raise Conflict(f"registry refused the change: {exc.orig}") from None
        return out

    def get_node(self, uid: str) -> Node:
        """The node `uid`, or `NodeNotFound`."""
        with self.session() as s:
            row = s.get(NodeRow, uid)
            if row is None:
                raise NodeNotFound(uid)
            return Node.from_row(row)

    def find_by_hardware_id(self, hardware_id: str) -> Node | None:
        """The node with this hardware_id, if any."""
        with self.session() as s:
            row = s.scalar(select(NodeRow).where(NodeRow.hardware_id == hardware_id))
            return Node.from_row(row) if row else None

    def list_nodes(self, gh: str | None = None, zone: str | None = None) -> list[Node]:
        """Every node (optionally of one greenhouse / zone), ordered by uid."""
        with self.session() as s:
            q = select(NodeRow).order_by(NodeRow.uid)
            if gh:
                q = q.where(NodeRow.gh_uid == gh)
            if zone:
                q = q.where(NodeRow.zone_uid == zone)
            return [Node.from_row(r) for r in s.scalars(q)]

    def update_node(self, uid: str, *, audit: str | None = None, **fields: Any) -> Node:
        """Change fields of `uid`; with `audit`, also write an audit record of that action."""
        bad = set(fields) - _EDITABLE
        if bad:
            raise ValidationError(f"node {uid}: cannot set {', '.join(sorted(bad))}", node_uid=uid)
        if fields.get("hardware_id"):
            fields["hardware_id"] = HardwareId(fields["hardware_id"]).value
        with self.session() as s:
            row = s.get(NodeRow, uid)
            if row is None:
                raise NodeNotFound(uid)
            for k, v in fields.items():
                setattr(row, k, v)
            if audit:
                changed = {k: str(v) for k, v in fields.items()}
                s.add(self._audit_row(audit, uid, "ok", changed))
            s.flush()
            return Node.from_row(row)

    def update_many(self, changes: dict[str, dict[str, Any]]) -> int:
        """Apply `{uid: {field: value}}` in one transaction (batched liveness writes)."""
        if not changes:
            return 0
        n = 0
        with self.session() as s:
            rows = s.scalars(select(NodeRow).where(NodeRow.uid.in_(list(changes))))
            for row in rows:
                for k, v in changes[row.uid].items():
                    if k in _EDITABLE:
                        setattr(row, k, v)
                n += 1
        return n

    # -- audit ---------------------------------------------------------------------

    def _audit_row(
        self, action: str, node_uid: str | None, outcome: str, detail: dict[str, Any] | None
    ) -> AuditRow:
        return AuditRow(
            at=utcnow(),
            actor=self.actor,
            action=action,
            node_uid=node_uid,
            outcome=outcome,
            detail=detail,
        )

    def audit(
        self,
        action: str,
        *,
        node_uid: str | None = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        """Append one audit record. Never put a secret in `detail`."""
        with self.session() as s:
            row = self._audit_row(action, node_uid, outcome, detail)
            if actor:
                row.actor = actor
            s.add(row)

    def audit_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Append several audit records (dicts of `audit`'s keyword arguments) at once."""
        with self.session() as s:
            for r in records:
                row = self._audit_row(
                    r["action"], r.get("node_uid"), r.get("outcome", "ok"), r.get("detail")
                )
                if r.get("actor"):
                    row.actor = r["actor"]
                s.add(row)

    def audit_log(
        self, node_uid: str | None = None, action: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Newest audit records first."""
        with self.session() as s:
            q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if node_uid:
                q = q.where(AuditRow.node_uid == node_uid)
            if action:
                q = q.where(AuditRow.action.startswith(action))
            return [
                {
                    "id": r.id,
                    "at": r.at,
                    "actor": r.actor,
                    "action": r.action,
                    "node_uid": r.node_uid,
                    "outcome": r.outcome,
                    "detail": r.detail,
                }
                for r in s.scalars(q)
            ]

    # -- candidates ----------------------------------------------------------------

    def note_candidate(
        self,
        hardware_id: str,
        node_type: str | None = None,
        fw_version: str | None = None,
        source: str = "node_hello",
    ) -> bool:
        """Record an unregistered hardware_id; True when it was new."""
        with self.session() as s:
            row = s.get(CandidateRow, hardware_id)
            if row is None:
                s.add(
                    CandidateRow(
                        hardware_id=hardware_id,
                        node_type=node_type,
                        fw_version=fw_version,
                        source=source,
                    )
                )
                return True
            row.last_seen_at = utcnow()
            row.node_type = node_type or row.node_type
            row.fw_version = fw_version or row.fw_version
            return False

    def candidates(self) -> list[dict[str, Any]]:
        """Unregistered hardware_ids seen so far."""
        with self.session() as s:
            return [
                {
                    "hardware_id": r.hardware_id,
                    "node_type": r.node_type,
                    "fw_version": r.fw_version,
                    "source": r.source,
                    "first_seen_at": r.first_seen_at,
                    "last_seen_at": r.last_seen_at,
                }
                for r in s.scalars(select(CandidateRow).order_by(CandidateRow.hardware_id))
            ]
