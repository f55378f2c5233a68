"""Facts about the repository for `fleet serve` and `fleet status`: the newest good snapshot."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fleet.backup.prune import snapshot_infos
from fleet.backup.repository import Repository


@dataclass(frozen=True)
class BackupStatus:
    """Newest snapshot, newest good (verified, complete) snapshot and its age in seconds."""

    snapshots: int
    newest: str | None
    newest_good: str | None
    newest_good_age_s: float | None


def backup_status(repo: Repository, now: dt.datetime | None = None) -> BackupStatus:
    """Summarise `repo` without reading any artifact (cheap: ids and verify records)."""
    when = now or dt.datetime.now(dt.UTC)
    infos = sorted(snapshot_infos(repo), key=lambda s: s.taken_at)
    good = [s for s in infos if s.good]
    return BackupStatus(
        snapshots=len(infos),
        newest=infos[-1].id if infos else None,
        newest_good=good[-1].id if good else None,
        newest_good_age_s=(when - good[-1].taken_at).total_seconds() if good else None,
    )
