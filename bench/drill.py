"""Benchmark: RTO of the reference site measured by `fleet drill`, next to a stock-tool restore.

Builds the reference site: a throwaway PostgreSQL cluster with a `telemetry` table of ROWS
rows and a Laravel folder of FILES_MB of files (incompressible 4 MiB OTA-like binaries),
takes one snapshot (postgres + laravel + fleet layers), then times, in the same run:

  baseline   a fresh throwaway cluster, then with stock tools only:
             age -d globals.sql.age | psql;  age -d db.hydro.dump.age | pg_restore --create;
             age -d files.tar.zst.age | zstd -dc | tar -x
  fleet      fleet.recovery.drill.run_drill: scratch restore of every layer into a fresh
             throwaway cluster and temp folders (the RTO it reports), then its health checks
             (row counts, roles, file SHA-256, escrow, firmware)

Usage: .venv/bin/python bench/drill.py [--rows 1000000] [--files-mb 200] [--rounds 2]
Prints each round, the medians, and the seed's 30-minute target (goal here: < 3 minutes).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import tomli_w

from fleet.backup.agecrypt import write_identity
from fleet.backup.postgres.cluster import PgCluster, throwaway_cluster
from fleet.backup.postgres.tools import find_tool
from fleet.backup.repository import Repository
from fleet.backup.runner import run_backup
from fleet.home import init_home
from fleet.recovery.drill import run_drill
from fleet.settings import Settings
from fleet.sim.reference_site import make_reference_db, make_reference_files

SEED_TARGET_S = 1800
GOAL_S = 180


def stock_restore(repo: Repository, sid: str, identity: Path, work: Path) -> float:
    """Restore postgres + laravel with age, psql, pg_restore, zstd and tar; seconds taken."""
    snap = repo.snapshot_dir(sid) / "artifacts"
    out = work / "stock"
    t = time.monotonic()
    cluster = PgCluster.create()
    try:
        cluster.start()
        psql, pg_restore = find_tool("psql"), find_tool("pg_restore")
        steps = [
            f"age -d -i {identity} {snap}/postgres/globals.sql.age | {psql} -X -q "
            f"-v ON_ERROR_STOP=0 -d '{cluster.dsn()}' 2>/dev/null",
            f"age -d -i {identity} {snap}/postgres/db.hydro.dump.age | {pg_restore} --create "
            f"--exit-on-error -d '{cluster.dsn('template1')}'",
            f"mkdir -p {out} && age -d -i {identity} {snap}/laravel/files.tar.zst.age "
            f"| zstd -dc | tar -x -C {out}",
        ]
        for cmd in steps:
            subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)
        return time.monotonic() - t
    finally:
        cluster.destroy()
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    """Build the site, snapshot it, run baseline and drill alternately, print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files-mb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-drill-"))
    try:
        files = work / "laravel"
        make_reference_files(files, args.files_mb)
        with throwaway_cluster() as cluster:
            t = time.monotonic()
            make_reference_db(cluster, args.rows)
            print(f"setup: {args.rows} rows, {args.files_mb} MiB ({time.monotonic() - t:.1f} s)")
            home = work / "home"
            identity = work / "id.txt"
            recipient = write_identity(identity)
            conf = {
                "backup": {
                    "repository": str(work / "repo"),
                    "recipients": [recipient],
                    "identity": str(identity),
                },
                "layers": {
                    "postgres": {"dsn": cluster.dsn("postgres"), "databases": ["hydro"]},
                    "laravel": {"root": str(files)},
                },
            }
            home.mkdir()
            (home / "fleet.toml").write_text(tomli_w.dumps(conf))
            settings = Settings.load(home, environ={})
            init_home(settings)
            backup = run_backup(settings)
            assert backup.ok, backup.errors
            repo = Repository(work / "repo")
            base, rto, total = [], [], []
            for _ in range(args.rounds):
                base.append(stock_restore(repo, backup.snapshot, identity, work))
                report = run_drill(settings, backup.snapshot)
                assert report.ok, [c for c in report.checks if not c.ok]
                rto.append(report.rto_seconds)
                total.append(report.total_seconds)
                layers = ", ".join(f"{k} {v:.2f} s" for k, v in report.layers.items())
                print(
                    f"round: stock {base[-1]:.2f} s | drill RTO {rto[-1]:.2f} s ({layers}), "
                    f"with checks {total[-1]:.2f} s"
                )
        b, r, a = statistics.median(base), statistics.median(rto), statistics.median(total)
        print(f"baseline stock-tool restore (age|psql, age|pg_restore, age|zstd|tar): {b:.2f} s")
        print(f"fleet drill RTO (scratch restore, every layer):                   {r:.2f} s")
        print(f"fleet drill total (restore + health checks):                      {a:.2f} s")
        print(
            f"seed target {SEED_TARGET_S} s (30 min): RTO is {r / SEED_TARGET_S:.1%} of it; "
            f"goal < {GOAL_S} s: {'met' if r < GOAL_S else 'NOT met'}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
