"""Benchmark: a full fleet snapshot vs plain `pg_dump -Fc` + `tar` of the same data.

Builds a demo site: a throwaway PostgreSQL cluster with a `telemetry` table of ROWS rows and
a Laravel-like folder with FILES_MB of files (OTA-like incompressible binaries plus text),
then times, in the same run:

  baseline   pg_dump -Fc hydro > dump  +  tar -cf files.tar -C root .
  fleet      fleet.backup.runner.run_backup (postgres + laravel layers: pg_dump -Fc per
             database, globals, schema, tar+zstd, age encryption, fsync, manifest, seal, and
             the structure verification that re-reads every artifact)

Usage: .venv/bin/python bench/backup.py [--rows 1000000] [--files-mb 200]
Runs both ROUNDS times, alternating; prints the medians and the ratio (goal: <= 1.3x).
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
from fleet.backup.postgres.cluster import throwaway_cluster
from fleet.backup.postgres.tools import find_tool
from fleet.backup.runner import run_backup
from fleet.settings import Settings
from fleet.sim.reference_site import make_reference_db, make_reference_files


def main() -> None:
    """Build the site, run baseline and fleet, print both and the ratio."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files-mb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-backup-"))
    try:
        files = work / "laravel"
        make_reference_files(files, args.files_mb)
        with throwaway_cluster() as cluster:
            t = time.monotonic()
            make_reference_db(cluster, args.rows)
            print(
                f"setup: {args.rows} rows, {args.files_mb} MiB files ({time.monotonic() - t:.1f} s)"
            )
            pg_dump = find_tool("pg_dump")
            home = work / "home"
            home.mkdir()
            recipient = write_identity(work / "id.txt")
            conf = {
                "backup": {"repository": str(work / "repo"), "recipients": [recipient]},
                "layers": {
                    "fleet": {"enabled": False},
                    "postgres": {"dsn": cluster.dsn("postgres"), "databases": ["hydro"]},
                    "laravel": {"root": str(files)},
                },
            }
            (home / "fleet.toml").write_text(tomli_w.dumps(conf))
            settings = Settings.load(home, environ={})
            base_times, our_times = [], []
            for _ in range(args.rounds):  # alternate, so both see the same caches and load
                out = work / "baseline"
                out.mkdir()
                t = time.monotonic()
                with open(out / "hydro.dump", "wb") as fh:
                    dump = [str(pg_dump), "-Fc", "-d", cluster.dsn("hydro")]
                    subprocess.run(dump, stdout=fh, check=True)
                tar = ["tar", "-cf", str(out / "files.tar"), "-C", str(files), "."]
                subprocess.run(tar, check=True)
                base_times.append(time.monotonic() - t)
                shutil.rmtree(out)
                t = time.monotonic()
                result = run_backup(settings)
                our_times.append(time.monotonic() - t)
                shutil.rmtree(work / "repo")
        baseline, ours = statistics.median(base_times), statistics.median(our_times)
        assert result.ok, result.errors
        b_all = " ".join(f"{x:.2f}" for x in base_times)
        o_all = " ".join(f"{x:.2f}" for x in our_times)
        print(f"rounds: {args.rounds} (baseline: {b_all} s; fleet: {o_all} s); medians:")
        print(f"baseline pg_dump -Fc + tar: {baseline:.2f} s")
        print(
            f"fleet backup run:           {ours:.2f} s  ({result.bytes / 2**20:.0f} MiB plaintext)"
        )
        print(f"ratio: {ours / baseline:.2f}x (goal <= 1.3x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
