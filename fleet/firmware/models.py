"""Tables of the firmware store (migration `firmware_0001`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fleet.registry.models import Base, utcnow


class FirmwareRow(Base):
    """One imported, validated bundle; its files live in `<home>/firmware/<id>/`."""

    __tablename__ = "firmware"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    chip: Mapped[str] = mapped_column(String(16), index=True)
    project: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    idf_version: Mapped[str] = mapped_column(String(32))
    app_sha256: Mapped[str] = mapped_column(String(64))
    app_size: Mapped[int] = mapped_column(Integer)
    flash_mode: Mapped[str] = mapped_column(String(8))
    flash_size: Mapped[str] = mapped_column(String(8))
    flash_freq: Mapped[str] = mapped_column(String(8))
    files: Mapped[dict[str, Any]] = mapped_column(JSON)  # role -> {offset, size, sha256}
    source: Mapped[str] = mapped_column(String(512))
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FirmwareAssignmentRow(Base):
    """Which firmware a node type, or one node, gets (per chip)."""

    __tablename__ = "firmware_assignments"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "node_type" | "node"
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    chip: Mapped[str] = mapped_column(String(16), primary_key=True)
    firmware_id: Mapped[str] = mapped_column(String(32), ForeignKey("firmware.id"))
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
