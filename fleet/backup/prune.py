"""Apply the retention plan to a repository (`fleet backup prune`)."""

from __future__ import annotations

import datetime as dt

from fleet.backup.manifest import Manifest
from fleet.backup.repository import Repository
from fleet.backup.retention import Decision, SnapshotInfo, plan
from fleet.backup.settings import RetentionSettings
from fleet.errors import FleetError


def snapshot_time(snapshot_id: str) -> dt.datetime:
    """When a snapshot was taken, from its id (`YYYYMMDDTHHMMSSZ-...`)."""
    return dt.datetime.strptime(snapshot_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def snapshot_infos(repo: Repository) -> list[SnapshotInfo]:
    """Retention facts for every listed snapshot (damaged manifests count as failed)."""
    out = []
    for sid in repo.snapshot_ids():
        state = repo.verify_state(sid)
        # `written` (the check right after a backup) is not a verification: unknown
        verified = None if state is None or (state.ok and state.level == "written") else state.ok
        complete = True
        try:
            man: Manifest = repo.manifest(sid)
            complete = man.complete
        except FleetError:
            verified, complete = False, False
        out.append(SnapshotInfo(sid, snapshot_time(sid), verified, complete))
    return out


def prune(
    repo: Repository,
    policy: RetentionSettings,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> list[Decision]:
    """Delete the snapshots the plan does not keep (none with `dry_run`); return the plan.

    Holds the repository lock, so it never races a running backup.
    """
    when = now or dt.datetime.now(dt.UTC)
    if dry_run:
        return plan(snapshot_infos(repo), policy, when)
    with repo.lock("backup prune"):
        decisions = plan(snapshot_infos(repo), policy, when)
        for d in decisions:
            if not d.keep:
                repo.delete(d.id)
    return decisions


def prune_wal(
    repo: Repository,
    policy: RetentionSettings,
    kept_snapshots: set[str],
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> list[str]:
    """Delete archived WAL outside `wal_days` that no kept base backup needs; the names.

    Nothing goes when `wal_days` is missing or zero, or when no kept snapshot holds a base
    backup (then no WAL can be shown to be unneeded).
    """
    from fleet.backup.postgres.target import base_backups
    from fleet.backup.postgres.wal import WalArchive, delete_files, prune_plan

    when = now or dt.datetime.now(dt.UTC)
    days = policy.wal_days if policy.wal_days and policy.wal_days > 0 else None
    cutoff = when - dt.timedelta(days=days) if days else None
    kept = [b for b in base_backups(repo) if b.snapshot in kept_snapshots]
    oldest = min(((b.timeline, b.start_segment) for b in kept), default=None)
    archive = WalArchive(repo.root)
    doomed = prune_plan(list(archive.files()), oldest, cutoff)
    if not dry_run and doomed:
        with repo.lock("wal prune"):
            delete_files(archive, doomed)
    return [f.name for f in doomed]
