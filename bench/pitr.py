"""Benchmark: PostgreSQL base backup and point-in-time recovery, fleet vs stock tools.

One throwaway cluster with a `telemetry` table of ROWS rows archives every WAL segment twice:
`cp %p PLAIN/%f` (the stock baseline) and `fleet wal push %p` (zstd + age, fsync). Then, in
the same run:

  backup    baseline: pg_dumpall --globals-only + pg_dump -Fc + pg_basebackup -Ft -X fetch
            fleet:    run_backup of the postgres layer with base_backup = true (the same three
                      plus schema DDL and row counts, all age-encrypted into the repository)
  recovery  after SEGMENTS more segments of inserts, recover to the latest archived WAL:
            baseline: tar -x base.tar, recovery.signal, restore_command = cp, start, promote
            fleet:    restore_pitr(--to-latest): decrypt + extract, `fleet wal fetch`, promote

Usage: .venv/bin/python bench/pitr.py [--rows 1000000] [--segments 8]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import tomli_w
from pyrage import x25519

from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.postgres.pitr import RecoveryTarget, restore_pitr
from fleet.backup.postgres.tools import cluster_user, find_tool, fleet_command
from fleet.backup.postgres.wal import WalArchive
from fleet.backup.repository import Repository
from fleet.backup.runner import run_backup
from fleet.settings import Settings


def _site(root: Path) -> tuple[Path, Path, x25519.Identity]:
    home, repo, plain = root / "home", root / "repo", root / "plain"
    for d in (home, repo, plain):
        d.mkdir()
    identity = x25519.Identity.generate()
    (home / "id.txt").write_text(f"{identity}\n")
    (home / "id.txt").chmod(0o600)
    conf = {
        "backup": {
            "repository": str(repo),
            "recipients": [str(identity.to_public())],
            "identity": str(home / "id.txt"),
        }
    }
    (home / "fleet.toml").write_text(tomli_w.dumps(conf))
    cluster_user().chown_tree(root)
    return home, repo, identity


def _wait_promoted(dsn: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(dsn, connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is not None and not row[0]:
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.1)
    raise SystemExit("baseline recovery did not finish")


def _baseline_backup(c: PgCluster, out: Path) -> float:
    t = time.monotonic()
    with open(out / "globals.sql", "wb") as fh:
        subprocess.run([str(find_tool("pg_dumpall")), "-g", "-d", c.dsn()], stdout=fh, check=True)
    with open(out / "hydro.dump", "wb") as fh:
        subprocess.run(
            [str(find_tool("pg_dump")), "-Fc", "-d", c.dsn("hydro")], stdout=fh, check=True
        )
    base = [str(find_tool("pg_basebackup")), "-d", c.dsn(), "-D", str(out / "base"), "-Ft"]
    subprocess.run([*base, "-X", "fetch", "--checkpoint=fast"], check=True)
    return time.monotonic() - t


def _baseline_recover(base_tar: Path, plain: Path, count: int) -> float:
    user = cluster_user()
    t = time.monotonic()
    target = PgCluster.prepare_base(user=user)
    data = target / "data"
    data.mkdir(mode=0o700)
    subprocess.run(["tar", "-xf", str(base_tar), "-C", str(data)], check=True)
    (data / "recovery.signal").touch()
    user.chown_tree(target)
    cluster = PgCluster.adopt(target, owns_base=True)
    cluster.configure(
        {"archive_mode": "off", "restore_command": f"cp {plain}/%f %p"}, "postgresql.auto.conf"
    )
    cluster.start(wait=False)
    try:
        _wait_promoted(cluster.dsn())
        took = time.monotonic() - t
        assert [(count,)] == cluster.query("SELECT count(*) FROM telemetry", "hydro")
    finally:
        cluster.destroy()
    return took


def main() -> None:
    """Build the cluster, run both backups and both recoveries, print figures and ratios."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--segments", type=int, default=8)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fleet-bench-pitr-"))
    root.chmod(0o755)
    home, repo, identity = _site(root)
    plain = root / "plain"
    push = f"cp %p {plain}/%f && {fleet_command(home)} wal push %p"
    conf: dict[str, Any] = {"archive_mode": "on", "archive_command": push, "max_wal_size": "1GB"}
    try:
        with PgCluster.create(conf=conf) as c:
            c.start()
            t = time.monotonic()
            c.query("CREATE DATABASE hydro")
            c.query(
                "CREATE TABLE telemetry (id bigserial PRIMARY KEY, node_uid text, ts timestamptz"
                " DEFAULT now(), value double precision)",
                "hydro",
            )
            insert = (
                "INSERT INTO telemetry (node_uid, value) SELECT 'nd-ph-' || (g % 50), random()"
                " FROM generate_series(1, {n}) g"
            )
            c.query(insert.format(n=args.rows), "hydro")
            print(f"setup: {args.rows} rows ({time.monotonic() - t:.1f} s)")

            out = root / "baseline"
            out.mkdir()
            base_backup_s = _baseline_backup(c, out)
            settings = Settings.load(
                home,
                overrides={
                    "layers": {"postgres": {"dsn": c.url(), "base_backup": True}},
                },
                environ={},
            )
            t = time.monotonic()
            result = run_backup(settings, only=["postgres"])
            fleet_backup_s = time.monotonic() - t
            assert result.ok, result.errors
            print(
                f"backup   baseline dumpall -g + pg_dump -Fc + pg_basebackup: {base_backup_s:.2f} s"
            )
            print(
                f"backup   fleet postgres layer (base_backup = true):        {fleet_backup_s:.2f} s"
                f"  ratio {fleet_backup_s / base_backup_s:.2f}x"
            )

            rows_per_seg = 120_000  # ~16 MB of WAL each
            for _ in range(args.segments):
                c.query(insert.format(n=rows_per_seg), "hydro")
            wanted = str(c.query("SELECT pg_walfile_name(pg_switch_wal())")[0][0])
            archive = WalArchive.from_settings(Settings.load(home, environ={}))
            deadline = time.monotonic() + 600
            while archive.lookup(wanted) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            count = int(c.query("SELECT count(*) FROM telemetry", "hydro")[0][0])
            segs = len(archive.segments())
            print(f"workload: {args.segments} x {rows_per_seg} rows; {segs} segments archived")

        base_tar = out / "base" / "base.tar"
        baseline_recover_s = _baseline_recover(base_tar, plain, count)
        t = time.monotonic()
        pitr = restore_pitr(Repository(repo), archive, identity, home, RecoveryTarget())
        fleet_recover_s = time.monotonic() - t
        try:
            assert [(count,)] == pitr.cluster.query("SELECT count(*) FROM telemetry", "hydro")
        finally:
            pitr.cluster.destroy()
        print(
            f"recovery baseline tar -x + cp restore_command:           {baseline_recover_s:.2f} s"
        )
        print(
            f"recovery fleet restore_pitr --to-latest:                 {fleet_recover_s:.2f} s"
            f"  ratio {fleet_recover_s / baseline_recover_s:.2f}x"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
