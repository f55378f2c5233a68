"""Persistence of reboot campaigns in the registry (tables in `fleet.service.models`)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from fleet.errors import NotFound
from fleet.registry import Registry
from fleet.service.models import CampaignRow, CampaignTargetRow
from fleet.service.report import FINAL, CampaignReport, Outcome, TargetView, build_report

WAITING, RUNNING, FINISHED, CANCELLED = "waiting", "running", "finished", "cancelled"
ACTIVE = (WAITING, RUNNING)


def _ts(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def _secs(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@dataclass
class Target:
    """One node of a campaign (times are seconds since the epoch)."""

    uid: str
    seq: int
    outcome: Outcome = Outcome.PENDING
    attempts: int = 0
    cmd_id: str | None = None
    status: str | None = None
    error_code: str | None = None
    sent_at: float | None = None
    done_at: float | None = None
    back_at: float | None = None
    prior_boot: float | None = None  # when the node last booted, as known at the send

    @property
    def final(self) -> bool:
        """True once the target has its report outcome."""
        return self.outcome in FINAL

    def view(self) -> TargetView:
        """The target as the report sees it."""
        return TargetView(self.uid, self.outcome, self.attempts, self.error_code, self.status)


@dataclass
class Campaign:
    """A reboot campaign and its targets (keyed by node uid)."""

    id: int
    reason: str
    state: str
    created_at: float
    rate: float
    jitter: float
    seed: int
    back_timeout: float
    command_timeout: float
    max_attempts: int
    not_before: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    selector: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)

    def report(self) -> CampaignReport:
        """The campaign's tally (final once every target is final)."""
        return build_report(t.view() for t in self.targets.values())

    def summary(self) -> dict[str, Any]:
        """A JSON-ready overview (no per-node lists)."""
        return {
            "id": self.id,
            "reason": self.reason,
            "state": self.state,
            "created_at": _ts(self.created_at),
            "not_before": _ts(self.not_before),
            "started_at": _ts(self.started_at),
            "finished_at": _ts(self.finished_at),
            "rate": self.rate,
            "targets": len(self.targets),
            "counts": self.report().counts(),
        }

    def details(self) -> dict[str, Any]:
        """Summary plus the report's per-node lists."""
        rep = self.report()
        return {
            **self.summary(),
            "selector": self.selector,
            "back": rep.back,
            "silent": rep.silent,
            "no_answer": rep.no_answer,
            "refused": rep.refused,
            "in_progress": rep.in_progress,
        }


class CampaignStore:
    """Creates, loads and updates campaigns in the registry database."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def create(
        self,
        uids: Sequence[str],
        *,
        reason: str,
        rate: float,
        jitter: float,
        back_timeout: float,
        command_timeout: float,
        not_before: float | None = None,
        max_attempts: int = 2,
        selector: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> Campaign:
        """Persist a new campaign over `uids` (order kept) and audit it; returns it."""
        seed = random.randrange(2**31) if seed is None else seed
        with self.registry.session() as s:
            row = CampaignRow(
                reason=reason,
                state=WAITING,
                not_before=_ts(not_before),
                rate=rate,
                jitter=jitter,
                seed=seed,
                back_timeout=back_timeout,
                command_timeout=command_timeout,
                max_attempts=max_attempts,
                selector=selector or {},
            )
            s.add(row)
            s.flush()
            cid = row.id
            s.add_all(
                CampaignTargetRow(
                    campaign_id=cid, node_uid=u, seq=i, outcome=Outcome.PENDING.value, attempts=0
                )
                for i, u in enumerate(uids)
            )
        self.registry.audit(
            "campaign.create",
            detail={"campaign": cid, "reason": reason, "targets": len(uids), "rate": rate},
        )
        return self.get(cid)

    def _load(self, row: CampaignRow, trows: Iterable[CampaignTargetRow]) -> Campaign:
        c = Campaign(
            id=row.id,
            reason=row.reason,
            state=row.state,
            created_at=row.created_at.timestamp(),
            rate=row.rate,
            jitter=row.jitter,
            seed=row.seed,
            back_timeout=row.back_timeout,
            command_timeout=row.command_timeout,
            max_attempts=row.max_attempts,
            not_before=_secs(row.not_before),
            started_at=_secs(row.started_at),
            finished_at=_secs(row.finished_at),
            selector=dict(row.selector or {}),
        )
        for t in trows:
            c.targets[t.node_uid] = Target(
                t.node_uid,
                t.seq,
                Outcome(t.outcome),
                t.attempts,
                t.cmd_id,
                t.status,
                t.error_code,
                _secs(t.sent_at),
                _secs(t.done_at),
                _secs(t.back_at),
                t.prior_boot,
            )
        return c

    def get(self, campaign_id: int) -> Campaign:
        """The campaign `campaign_id` with its targets; NotFound when there is none."""
        with self.registry.session() as s:
            row = s.get(CampaignRow, campaign_id)
            if row is None:
                raise NotFound(f"campaign {campaign_id} does not exist", campaign=campaign_id)
            trows = s.scalars(
                select(CampaignTargetRow)
                .where(CampaignTargetRow.campaign_id == campaign_id)
                .order_by(CampaignTargetRow.seq)
            )
            return self._load(row, trows)

    def campaigns(self, states: Sequence[str] | None = None) -> list[Campaign]:
        """Every campaign (optionally only those in `states`), newest first, with targets."""
        with self.registry.session() as s:
            q = select(CampaignRow.id).order_by(CampaignRow.id.desc())
            if states:
                q = q.where(CampaignRow.state.in_(list(states)))
            ids = list(s.scalars(q))
        return [self.get(i) for i in ids]

    def drop_targets(self, campaign: Campaign, uids: Sequence[str]) -> None:
        """Remove `uids` from the campaign (in memory and in the registry)."""
        with self.registry.session() as s:
            for k in range(0, len(uids), 500):
                s.execute(
                    delete(CampaignTargetRow).where(
                        CampaignTargetRow.campaign_id == campaign.id,
                        CampaignTargetRow.node_uid.in_(list(uids[k : k + 500])),
                    )
                )
        for u in uids:
            campaign.targets.pop(u, None)

    def save(self, campaign: Campaign, targets: Iterable[Target] = ()) -> None:
        """Write the campaign's own fields and the given targets in one transaction."""
        with self.registry.session() as s:
            row = s.get(CampaignRow, campaign.id)
            if row is None:
                raise NotFound(f"campaign {campaign.id} does not exist", campaign=campaign.id)
            row.state = campaign.state
            row.started_at = _ts(campaign.started_at)
            row.finished_at = _ts(campaign.finished_at)
            row.not_before = _ts(campaign.not_before)
            if campaign.state == FINISHED:
                row.report = campaign.report().counts()
            mappings = [
                {
                    "campaign_id": campaign.id,
                    "node_uid": t.uid,
                    "outcome": t.outcome.value,
                    "attempts": t.attempts,
                    "cmd_id": t.cmd_id,
                    "status": t.status,
                    "error_code": t.error_code,
                    "sent_at": _ts(t.sent_at),
                    "done_at": _ts(t.done_at),
                    "back_at": _ts(t.back_at),
                    "prior_boot": t.prior_boot,
                }
                for t in targets
            ]
            if mappings:
                s.bulk_update_mappings(CampaignTargetRow.__mapper__, mappings)
