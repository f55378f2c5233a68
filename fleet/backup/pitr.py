"""Point-in-time recovery: a base backup from the repository, then WAL from the archive.

`restore_pitr` lays down the newest base backup that ended *before* the target (a newer one
would make PostgreSQL ignore the target and replay to the end), writes the recovery
settings (`restore_command` = `fleet wal fetch %f %p`, the target, `recovery_target_action
= promote`), starts PostgreSQL and waits until recovery has ended and the server is
promoted. Before touching anything it refuses targets the archive cannot reach: before the
oldest base backup, past the newest archived WAL, or behind a gap in the WAL, with the reason.
"""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import zstandard
from pyrage import x25519

from fleet.backup.manifest import ArtifactRecord
from fleet.backup.pgcluster import PgCluster
from fleet.backup.pgtools import ClusterUser, cluster_user, fleet_command
from fleet.backup.repository import Repository
from fleet.backup.wal import (
    WalArchive,
    WalFile,
    format_lsn,
    lsn_segment,
    parse_lsn,
    segment_name,
    segment_number,
)
from fleet.errors import BackupError, Conflict, MissingPrerequisite, NotFound, UsageError

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


@dataclass
class PitrResult:
    """What a recovery did; `cluster` is the running, promoted server."""

    base_snapshot: str
    base_stop_lsn: str
    target: str
    data_dir: str
    port: int
    end_lsn: str
    timeline: int
    wal_needed_through: str | None
    seconds: float
    cluster: PgCluster = field(repr=False)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts (without the cluster handle)."""
        return {k: v for k, v in self.__dict__.items() if k != "cluster"}


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


def _extract(repo: Repository, base: BaseBackup, identity: x25519.Identity, data: Path) -> None:
    with repo.open_artifact(base.snapshot, base.record, identity) as stream:
        reader = zstandard.ZstdDecompressor().stream_reader(stream)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            tar.extractall(data, filter="data")


def _prepare_data_dir(data: Path, user: ClusterUser) -> None:
    if data.exists() and any(data.iterdir()):
        raise Conflict(f"data folder {data} is not empty; recover into an empty or new folder")
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    user.chown(data)


def _preflight_fetch(command: str, base: BaseBackup, data: Path, user: ClusterUser) -> None:
    """Run the restore_command once as the cluster user, for the stop segment's file."""
    first = segment_name(base.timeline, lsn_segment(base.stop_lsn))
    dest = data / f"preflight-{first}"
    line = command.replace("%f", first).replace("%p", str(dest))
    done = subprocess.run(
        user.wrap(["sh", "-c", line]), capture_output=True, text=True, check=False
    )
    dest.unlink(missing_ok=True)
    if done.returncode != 0:
        raise MissingPrerequisite(
            f"user {user.name} cannot fetch WAL {first} with restore_command "
            f"({' '.join(done.stderr.split())[:300]})",
        )


def _wait_promoted(cluster: PgCluster, timeout: float) -> tuple[str, int]:
    """Poll until the server has left recovery; BackupError with its log if it stops."""
    started = time.monotonic()
    seen = False
    while time.monotonic() - started < timeout:
        if cluster.pid() is not None:
            seen = True
        elif seen or time.monotonic() - started > 15:
            break  # the server exited (recovery failed) or never came up
        try:
            with psycopg.connect(cluster.dsn(), autocommit=True, connect_timeout=2) as conn:
                row = conn.execute(
                    "SELECT pg_is_in_recovery(), pg_current_wal_lsn()::text,"
                    " pg_walfile_name(pg_current_wal_lsn())"
                ).fetchone()
                if row is not None and not row[0]:
                    return str(row[1]), int(str(row[2])[:8], 16)
        except psycopg.OperationalError:
            pass
        time.sleep(0.2)
    tail = cluster.log_tail(6)
    cluster.stop()
    raise BackupError(f"point-in-time recovery in {cluster.data_dir} did not finish: {tail}")


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


def _prefetch(archive: WalArchive, names: list[str], spool: Path, user: ClusterUser) -> None:
    """Decrypt `names` into `spool` in-process (one `fleet` start per segment saved)."""
    spool.mkdir(mode=0o700, exist_ok=True)
    user.chown(spool)
    for name in names:
        archive.fetch(name, spool / name)
        user.chown(spool / name)


def restore_pitr(
    repo: Repository,
    archive: WalArchive,
    identity: x25519.Identity,
    home: Path,
    target: RecoveryTarget,
    data_dir: Path | None = None,
    snapshot: str | None = None,
    port: int | None = None,
    timeout: float = 600.0,
    prefetch: int = 64,
) -> PitrResult:
    """Recover a PostgreSQL cluster to `target` into `data_dir` (default: a new temp folder).

    `home` is the fleet data directory whose settings the restore_command (`fleet wal
    fetch`) reads; the cluster user must be able to read it and the identity. The recovered
    server is left running on `port` (a free loopback port by default), archiving off, and
    returned in the result; stop it with `result.cluster.stop()`. Refuses (UsageError,
    nothing written) targets the archive cannot reach; Conflict when `data_dir` holds data;
    BackupError with the server's last log lines when PostgreSQL stops short of the target.

    Up to `prefetch` segments (16 MiB each) are decrypted ahead into a spool folder beside
    the data folder, which the restore_command takes from before it falls back to `fleet
    wal fetch`; the spool is removed once the server is promoted.
    """
    started = time.monotonic()
    base = choose_base(base_backups(repo), target, snapshot)
    last = check_reachable(base, archive, target)
    user = cluster_user()
    owns = data_dir is None
    parent = PgCluster.prepare_base(user=user) if owns else Path(str(data_dir)).parent
    data = parent / "data" if owns else Path(str(data_dir))
    _prepare_data_dir(data, user)
    fetch_command = f"{fleet_command(home, user)} wal fetch %f %p"
    spool = data.with_name(f"{data.name}.wal-spool")
    quoted = shlex.quote(str(spool))
    # spooled: move it in; not archived: fail fast (no Python start); else fetch it
    restore_command = (
        f"if test -f {quoted}/%f; then mv {quoted}/%f %p; "
        f"elif {archive.shell_has('%f')}; then {fetch_command}; else exit 1; fi"
    )
    cluster = PgCluster.adopt(parent, port=port, data=data, owns_base=owns)
    try:
        if last is not None:
            _preflight_fetch(fetch_command, base, data, user)
        _extract(repo, base, identity, data)
        _prefetch(archive, prefetch_plan(base, archive, target, prefetch), spool, user)
        (data / "recovery.signal").touch()
        for stale in ("postmaster.pid", "postmaster.opts", "standby.signal"):
            (data / stale).unlink(missing_ok=True)
        if not (data / "postgresql.conf").exists():
            (data / "postgresql.conf").write_text("# written by fleet pitr\n", encoding="utf-8")
        if not (data / "pg_hba.conf").exists():
            (data / "pg_hba.conf").write_text(
                "local all all peer\nhost all all 127.0.0.1/32 trust\n", encoding="utf-8"
            )
        recovery: dict[str, Any] = {
            "archive_mode": "off",
            "restore_command": restore_command,
            "recovery_target_action": "promote",
            "recovery_target_timeline": "latest",
        }
        if target.time is not None:
            recovery["recovery_target_time"] = target.time.isoformat()
        elif target.lsn is not None:
            recovery["recovery_target_lsn"] = target.lsn
        user.chown_tree(data)
        data.chmod(0o700)
        cluster.configure(recovery, file="postgresql.auto.conf")
        cluster.start(wait=False)
        end_lsn, timeline = _wait_promoted(cluster, timeout)
        shutil.rmtree(spool, ignore_errors=True)
    except BaseException:
        shutil.rmtree(spool, ignore_errors=True)
        cluster.stop()
        if owns:
            shutil.rmtree(parent, ignore_errors=True)
        raise
    return PitrResult(
        base_snapshot=base.snapshot,
        base_stop_lsn=format_lsn(base.stop_lsn),
        target=target.describe(),
        data_dir=str(data),
        port=cluster.port,
        end_lsn=end_lsn,
        timeline=timeline,
        wal_needed_through=last.name if last else None,
        seconds=round(time.monotonic() - started, 3),
        cluster=cluster,
    )
