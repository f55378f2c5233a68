"""Tables of the service: reboot campaigns and their targets (migration `service_0001`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fleet.registry.models import Base, utcnow


class CampaignRow(Base):
    """One reboot campaign; `state` is waiting, running, finished or cancelled."""

    __tablename__ = "service_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reason: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    not_before: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    rate: Mapped[float] = mapped_column(Float)
    jitter: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer)
    back_timeout: Mapped[float] = mapped_column(Float)
    command_timeout: Mapped[float] = mapped_column(Float)
    max_attempts: Mapped[int] = mapped_column(Integer)
    selector: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CampaignTargetRow(Base):
    """One node of a campaign and where it stands (see `fleet.service.report.Outcome`)."""

    __tablename__ = "service_campaign_targets"

    campaign_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("service_campaigns.id"), primary_key=True
    )
    node_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cmd_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime | None]
    done_at: Mapped[dt.datetime | None]
    back_at: Mapped[dt.datetime | None]
    prior_boot: Mapped[float | None] = mapped_column(Float)  # boot estimate before the send
