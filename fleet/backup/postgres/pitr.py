"""Point-in-time recovery: a base backup from the repository, then WAL from the archive.

`restore_pitr` lays down the newest base backup that ended *before* the target (a newer one
would make PostgreSQL ignore the target and replay to the end), writes the recovery
settings (`restore_command` = `fleet wal fetch %f %p`, the target, `recovery_target_action
= promote`), starts PostgreSQL and waits until recovery has ended and the server is
promoted. Before touching anything it refuses targets the archive cannot reach: before the
oldest base backup, past the newest archived WAL, or behind a gap in the WAL, with the reason.
"""

from __future__ import annotations

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

from fleet.backup.agecrypt import load_identity
from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.postgres.lsn import format_lsn, lsn_segment, segment_name
from fleet.backup.postgres.target import (
    BaseBackup,
    RecoveryTarget,
    base_backups,
    check_reachable,
    choose_base,
    parse_target,
    prefetch_plan,
)
from fleet.backup.postgres.tools import ClusterUser, cluster_user, fleet_command
from fleet.backup.postgres.wal import WalArchive
from fleet.backup.repository import Repository
from fleet.backup.settings import backup_settings
from fleet.errors import (
    BackupError,
    ConfigError,
    Conflict,
    MissingPrerequisite,
)
from fleet.settings import Settings

__all__ = [
    "PitrResult",
    "RecoveryTarget",
    "parse_target",
    "restore_pitr",
    "restore_pitr_from_settings",
]


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
    identity_file: Path | None = None,
) -> PitrResult:
    """Recover a PostgreSQL cluster to `target` into `data_dir` (default: a new temp folder).

    `home` is the fleet data directory whose settings the restore_command (`fleet wal
    fetch`) reads; `identity_file`, when given, is passed to it explicitly (else it uses
    `[backup] identity`); the cluster user must be able to read both. The recovered
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
    fetch_command = f"{fleet_command(home, user)} wal fetch"
    if identity_file is not None:
        fetch_command += f" --identity {shlex.quote(str(identity_file.absolute()))}"
    fetch_command += " %f %p"
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


def restore_pitr_from_settings(
    settings: Settings,
    target: RecoveryTarget,
    snapshot: str | None = None,
    data_dir: Path | None = None,
    port: int | None = None,
    prefetch: int = 64,
) -> PitrResult:
    """`restore_pitr` with the repository, WAL archive and identity of the `[backup]` settings.

    ConfigError when no identity is configured (recovery must decrypt).
    """
    cfg = backup_settings(settings)
    identity_path = cfg.identity_path(settings.home)
    if identity_path is None:
        raise ConfigError("backup.identity is not set: point-in-time recovery must decrypt")
    repo = Repository(cfg.repository_path(settings.home))
    return restore_pitr(
        repo,
        WalArchive.from_settings(settings),
        load_identity(identity_path),
        settings.home,
        target,
        data_dir=data_dir,
        snapshot=repo.resolve(snapshot) if snapshot else None,
        port=port,
        prefetch=prefetch,
        identity_file=identity_path,
    )
