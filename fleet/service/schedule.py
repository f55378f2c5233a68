"""Scheduled site backups and restore drills, run by `fleet serve`.

`[schedule]` in fleet.toml: `backup_every_hours` (24: the seed's daily full snapshot),
`drill_every_days` (30: a restore proven at least monthly), `retry_minutes` (60: the wait
after a failed attempt), `prune` (apply retention after each backup), `start_after_s` (300:
the first check waits this long after the service starts). A zero or negative
interval turns that job off. Nothing runs while `[backup] repository` and `recipients` are
unset; the service says so once. Jobs run in a worker thread, one at a time, so the MQTT
loops never wait for them. Whether a job is due is decided from what is on disk (the newest
snapshot's time, the last drill record), so a restart of the service neither repeats nor
skips a job.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

import pydantic

from fleet.errors import FleetError
from fleet.settings import Settings

log = logging.getLogger(__name__)


class ScheduleSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    backup_every_hours: float = 24.0
    drill_every_days: float = 30.0
    retry_minutes: float = 60.0
    prune: bool = True
    check_every_s: float = 60.0
    start_after_s: float = 300.0  # let the fleet settle after a (re)start before heavy jobs


def due(
    last: dt.datetime | None,
    every: dt.timedelta | None,
    now: dt.datetime,
    last_attempt: dt.datetime | None = None,
    retry: dt.timedelta = dt.timedelta(hours=1),
) -> bool:
    """True when a job last done at `last` is due again (never when `every` is None).

    A failed attempt at `last_attempt` holds the next try back by `retry`.
    """
    if every is None:
        return False
    if last_attempt is not None and (last is None or last_attempt > last):
        return now - last_attempt >= retry
    return last is None or now - last >= every


def _interval(value: float, unit: str) -> dt.timedelta | None:
    return dt.timedelta(**{unit: value}) if value > 0 else None


@dataclass
class ScheduleState:
    """What the scheduler knows, for metrics and logs."""

    newest_good_age_s: float | None = None
    last_backup: str | None = None
    last_backup_ok: bool | None = None
    last_drill_ok: bool | None = None
    last_drill_rto_s: float | None = None
    attempts: dict[str, dt.datetime] = field(default_factory=dict)


class Scheduler:
    """Decides and runs the due backup and drill; `tick` is one synchronous round."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = settings.section("schedule", ScheduleSettings)
        self.state = ScheduleState()
        self._said_unconfigured = False

    def configured(self) -> bool:
        """True when the settings name a repository and at least one recipient."""
        from fleet.backup.settings import backup_settings

        cfg = backup_settings(self.settings)
        return bool(cfg.repository and cfg.recipients)

    def _newest_snapshot(self) -> dt.datetime | None:
        from fleet.backup.prune import snapshot_infos
        from fleet.backup.repository import Repository
        from fleet.backup.settings import backup_settings
        from fleet.backup.status import backup_status

        repo = Repository(backup_settings(self.settings).repository_path(self.settings.home))
        status = backup_status(repo)
        self.state.newest_good_age_s = status.newest_good_age_s
        infos = snapshot_infos(repo) if repo.root.exists() else []
        return max((s.taken_at for s in infos), default=None)

    def _last_drill(self) -> dt.datetime | None:
        from fleet.recovery.drill import last_drill

        report = last_drill(self.settings)
        if report is None:
            return None
        self.state.last_drill_ok = report.ok
        self.state.last_drill_rto_s = report.rto_seconds
        return dt.datetime.fromisoformat(report.started_at)

    def tick(self, now: dt.datetime | None = None) -> list[str]:
        """Run whatever is due now; the names of the jobs that ran."""
        when = now or dt.datetime.now(dt.UTC)
        if not self.configured():
            if not self._said_unconfigured:
                log.warning("scheduled backups are off: [backup] repository/recipients not set")
                self._said_unconfigured = True
            return []
        ran = []
        retry = dt.timedelta(minutes=max(self.cfg.retry_minutes, 0))
        every = _interval(self.cfg.backup_every_hours, "hours")
        if due(self._newest_snapshot(), every, when, self.state.attempts.get("backup"), retry):
            ran.append("backup")
            self._backup(when)
        every = _interval(self.cfg.drill_every_days, "days")
        if due(self._last_drill(), every, when, self.state.attempts.get("drill"), retry):
            ran.append("drill")
            self._drill(when)
        return ran

    def _backup(self, when: dt.datetime) -> None:
        from fleet.backup.prune import prune, prune_wal
        from fleet.backup.repository import Repository
        from fleet.backup.runner import run_backup
        from fleet.backup.settings import backup_settings

        self.state.attempts["backup"] = when
        try:
            result = run_backup(self.settings, verify=True)
        except FleetError as exc:
            self.state.last_backup_ok = False
            log.error("scheduled backup failed: %s", exc.message)
            return
        self.state.last_backup, self.state.last_backup_ok = result.snapshot, result.ok
        log.info("scheduled backup %s: %s", result.snapshot, "ok" if result.ok else result.errors)
        if self.cfg.prune and result.ok:
            cfg = backup_settings(self.settings)
            repo = Repository(cfg.repository_path(self.settings.home))
            try:
                kept = {d.id for d in prune(repo, cfg.retention) if d.keep}
                prune_wal(repo, cfg.retention, kept)
            except FleetError as exc:
                log.error("retention after the scheduled backup failed: %s", exc.message)
        self._newest_snapshot()

    def _drill(self, when: dt.datetime) -> None:
        from fleet.recovery.drill import run_drill

        self.state.attempts["drill"] = when
        try:
            report = run_drill(self.settings)
        except FleetError as exc:
            self.state.last_drill_ok = False
            log.error("scheduled drill failed: %s", exc.message)
            return
        self.state.last_drill_ok = report.ok
        self.state.last_drill_rto_s = report.rto_seconds
        log.info(
            "scheduled drill of %s: %s, RTO %.1f s",
            report.snapshot,
            "passed" if report.ok else "FAILED",
            report.rto_seconds,
        )

    async def run(self) -> None:
        """After `start_after_s`, check every `check_every_s`; jobs run in a worker thread."""
        await asyncio.sleep(max(self.cfg.start_after_s, 0.0))
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except FleetError as exc:  # e.g. an unreadable repository: say it, keep serving
                log.error("schedule: %s", exc.message)
            await asyncio.sleep(max(self.cfg.check_every_s, 1.0))

    def gauges(self) -> dict[str, float]:
        """Prometheus gauges: newest good snapshot's age, last drill's outcome and RTO."""
        out: dict[str, float] = {}
        if self.state.newest_good_age_s is not None:
            out["backup_newest_good_age_seconds"] = round(self.state.newest_good_age_s, 1)
        if self.state.last_drill_ok is not None:
            out["drill_last_ok"] = 1.0 if self.state.last_drill_ok else 0.0
        if self.state.last_drill_rto_s is not None:
            out["drill_last_rto_seconds"] = round(self.state.last_drill_rto_s, 2)
        return out
