"""The registry's tables (SQLAlchemy 2). Schema changes go through migrations.

Other areas define their own tables on this `Base` in their own modules (and migrations in
their own Alembic branch); the registry never imports them. Only the migration environment
(`migrations/env.py`) lists every area's models, so that `Base.metadata` is complete there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that always comes back timezone-aware UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        dt.datetime: UTCDateTime(),
    }


class NodeRow(Base):
    __tablename__ = "nodes"

    uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    hardware_id: Mapped[str | None] = mapped_column(String(18), unique=True, index=True)
    mac: Mapped[str | None] = mapped_column(String(17))
    chip: Mapped[str] = mapped_column(String(16), default="esp32")
    node_type: Mapped[str] = mapped_column(String(32), default="unknown")
    gh_uid: Mapped[str] = mapped_column(String(64))
    zone_uid: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    fw_version: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="UNKNOWN")
    state_since: Mapped[dt.datetime | None]
    last_seen_at: Mapped[dt.datetime | None]
    last_heartbeat_at: Mapped[dt.datetime | None]
    rssi: Mapped[int | None] = mapped_column(Integer)
    free_heap: Mapped[int | None] = mapped_column(Integer)
    uptime: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditRow(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    node_uid: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class VaultKeyRow(Base):
    """Which key-encryption keys exist (by fingerprint, never the key)."""

    __tablename__ = "vault_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[dt.datetime | None]


class VaultRecordRow(Base):
    """One encrypted record: AES-256-GCM under the key `key_id`, AD = kind + subject."""

    __tablename__ = "vault_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(128), index=True)
    key_id: Mapped[str] = mapped_column(String(32), ForeignKey("vault_keys.key_id"))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CandidateRow(Base):
    """A hardware_id seen (e.g. in node_hello) that no registered node has."""

    __tablename__ = "candidates"

    hardware_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    node_type: Mapped[str | None] = mapped_column(String(32))
    fw_version: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), default="node_hello")
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
