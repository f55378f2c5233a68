"""Which base backup and which WAL a point-in-time recovery target needs (no I/O but reads).

`choose_base` picks the newest base backup that ended *before* the target (pgBackRest's
lesson: a newer one makes PostgreSQL ignore the target and replay to the end);
`check_reachable` refuses targets the archive cannot reach, with the reason;
`prefetch_plan` lists the segments recovery will read first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fleet.backup.manifest import ArtifactRecord
from fleet.backup.postgres.lsn import (
    format_lsn,
    lsn_segment,
    parse_lsn,
    segment_name,
    segment_number,
)
from fleet.backup.postgres.wal import WalArchive, WalFile
from fleet.backup.repository import Repository
from fleet.errors import NotFound, UsageError

LAYER = "postgres"


@dataclass(frozen=True)
class RecoveryTarget:
    """Where to stop: a moment (`time`, timezone-aware), an `lsn`, or the end of the archive."""

    time: dt.datetime | None = None
    lsn: str | None = None

    def __post_init__(self) -> None:
        if self.time is not None and self.lsn is not None:
            raise UsageError("give a target time or a target LSN, not both")
        if self.time is not None and self.time.tzinfo is None:
            raise UsageError("the target time needs a timezone (e.g. 2026-11-27T10:00:00+00:00)")
        if self.lsn is not None:
            parse_lsn(self.lsn)

    @property
    def latest(self) -> bool:
        return self.time is None and self.lsn is None

    def describe(self) -> str:
        """`time 2026-...`, `lsn 0/3000028` or `latest`."""
        if self.time is not None:
            return f"time {self.time.isoformat()}"
        return f"lsn {self.lsn}" if self.lsn else "latest"


@dataclass(frozen=True)
class BaseBackup:
    """A base backup artifact found in a snapshot, with the facts PITR needs."""

    snapshot: str
    record: ArtifactRecord
    start_lsn: int
    stop_lsn: int
    stop_time: dt.datetime
    timeline: int
    system_identifier: str

    @property
    def start_segment(self) -> int:
        return lsn_segment(self.start_lsn)


def base_backups(repo: Repository) -> list[BaseBackup]:
    """Every postgres base backup in the repository's snapshots, oldest first."""
    found = []
    for sid in repo.snapshot_ids():
        for rec in repo.manifest(sid).layer_artifacts(LAYER):
            if rec.kind != "pg_base":
                continue
            meta = rec.meta
            found.append(
                BaseBackup(
                    snapshot=sid,
                    record=rec,
                    start_lsn=parse_lsn(meta["start_lsn"]),
                    stop_lsn=parse_lsn(meta["stop_lsn"]),
                    stop_time=dt.datetime.fromisoformat(meta["stop_time"]),
                    timeline=int(meta.get("timeline", 1)),
                    system_identifier=str(meta.get("system_identifier", "")),
                )
            )
    return sorted(found, key=lambda b: (b.stop_lsn, b.snapshot))


def choose_base(
    bases: list[BaseBackup], target: RecoveryTarget, snapshot: str | None = None
) -> BaseBackup:
    """The newest base backup that ends before `target` (of the same cluster as `snapshot`).

    `latest`: the base backup of `snapshot` when given, else the newest. Raises NotFound
    when there is none, UsageError when the target is before the oldest one.
    """
    if snapshot is not None:
        mine = [b for b in bases if b.snapshot == snapshot]
        if not mine:
            raise NotFound(
                f"snapshot {snapshot} holds no postgres base backup (base_backup = true)"
            )
        bases = [b for b in bases if b.system_identifier == mine[-1].system_identifier]
    if not bases:
        raise NotFound("the repository holds no postgres base backup (set base_backup = true)")
    if target.latest:
        return [b for b in bases if snapshot is None or b.snapshot == snapshot][-1]
    if target.time is not None:
        when = target.time
        usable = [b for b in bases if b.stop_time <= when]
        oldest = f"{bases[0].stop_time.isoformat()} (snapshot {bases[0].snapshot})"
    else:
        lsn = parse_lsn(str(target.lsn))
        usable = [b for b in bases if b.stop_lsn <= lsn]
        oldest = f"{format_lsn(bases[0].stop_lsn)} (snapshot {bases[0].snapshot})"
    if not usable:
        raise UsageError(
            f"target {target.describe()} is before the oldest base backup, which ends at "
            f"{oldest}: the archive cannot reach it",
            target=target.describe(),
        )
    return usable[-1]


def check_reachable(
    base: BaseBackup, archive: WalArchive, target: RecoveryTarget
) -> WalFile | None:
    """Refuse (UsageError, with the reason) a target the WAL archive cannot reach from `base`.

    The base backup carries the WAL that makes it consistent (`-X fetch`); from its stop
    segment on, WAL must be archived without a gap up to the target. Returns the last
    segment of that unbroken run (None when not even the stop segment is archived).
    """
    on_tl = {segment_number(f.name): f for f in archive.segments() if f.timeline == base.timeline}
    seg = lsn_segment(base.stop_lsn)
    last: WalFile | None = None
    while seg in on_tl:
        last = on_tl[seg]
        seg += 1
    gap = segment_name(base.timeline, seg) if any(s > seg for s in on_tl) else None
    if gap:
        why = f"the archive has a gap: segment {gap} is missing"
    else:
        newest = last.name if last else "none after the base backup"
        why = f"it is past the newest archived WAL ({newest})"
    if target.lsn is not None and lsn_segment(parse_lsn(target.lsn)) >= seg:
        raise UsageError(f"target {target.describe()} cannot be reached: {why}")
    if target.time is not None:
        end = dt.datetime.fromisoformat(last.archived_at) if last else base.stop_time
        if target.time > end:
            raise UsageError(
                f"target {target.describe()} cannot be reached: {why}; archived WAL "
                f"from base backup {base.snapshot} covers up to {end.isoformat()}",
                target=target.describe(),
            )
    return last


def prefetch_plan(
    base: BaseBackup, archive: WalArchive, target: RecoveryTarget, limit: int
) -> list[str]:
    """The archived segments recovery will read first, in order, at most `limit` of them.

    From the base backup's stop segment along the unbroken run of its timeline, up to the
    segment holding the target LSN, or the first segment archived after the target time.
    """
    on_tl = {segment_number(f.name): f for f in archive.segments() if f.timeline == base.timeline}
    seg = lsn_segment(base.stop_lsn)
    out: list[str] = []
    while seg in on_tl and len(out) < limit:
        found = on_tl[seg]
        out.append(found.name)
        if target.lsn is not None and seg >= lsn_segment(parse_lsn(target.lsn)):
            break
        if target.time is not None and dt.datetime.fromisoformat(found.archived_at) >= target.time:
            break
        seg += 1
    return out


def parse_target(
    to_time: str | None = None, to_lsn: str | None = None, to_latest: bool = False
) -> RecoveryTarget:
    """The target of `--to-time T | --to-lsn L | --to-latest` (exactly one; UsageError else).

    A time is ISO 8601; without a zone it is refused rather than guessed (`Z` is UTC).
    """
    given = [x for x in (to_time, to_lsn) if x] + (["latest"] if to_latest else [])
    if len(given) != 1:
        raise UsageError("give exactly one of --to-time, --to-lsn, --to-latest")
    if to_time:
        try:
            when = dt.datetime.fromisoformat(to_time.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(f"--to-time {to_time!r} is not an ISO 8601 time") from exc
        return RecoveryTarget(time=when)
    if to_lsn:
        return RecoveryTarget(lsn=to_lsn.strip().upper())
    return RecoveryTarget()
