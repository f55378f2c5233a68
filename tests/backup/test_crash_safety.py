"""Crash safety: a real `fleet backup run` killed with SIGKILL at random moments never leaves
a partial snapshot listed, never damages an earlier one, and never blocks the next run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fleet.backup.repository import Repository
from fleet.backup.verify import verify_snapshot

FLEET = str(Path(sys.executable).parent / "fleet")


def start(site: Any) -> subprocess.Popen[bytes]:
    """Start `fleet backup run --json` for the site's home."""
    env = {**os.environ, "FLEET_HOME": str(site.home)}
    return subprocess.Popen(
        [FLEET, "backup", "run", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_9_at_20_random_moments_leaves_only_complete_verified_snapshots(site: Any) -> None:
    """After each of 20 SIGKILLs, every listed snapshot verifies and the next run works."""
    big = site.root / "laravel/storage/app/ota/big.bin"
    big.write_bytes(os.urandom(24 * 1024 * 1024))
    site.settings()  # writes fleet.toml
    t0 = time.monotonic()
    assert 0 == start(site).wait(timeout=120)
    full = time.monotonic() - t0
    repo = Repository(site.repo)
    first = repo.snapshot_ids()
    rng = random.Random(20261127)
    killed_mid_run = 0
    for _ in range(20):
        proc = start(site)
        time.sleep(rng.uniform(0.0, full))
        if proc.poll() is None:
            killed_mid_run += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        for sid in repo.snapshot_ids():
            report = verify_snapshot(repo, sid, record=False)
            assert (sid, True, []) == (sid, report.ok, report.problems)
    assert killed_mid_run >= 5
    assert set(first) <= set(repo.snapshot_ids())
    newest = repo.snapshot_ids()[-1]
    assert True is verify_snapshot(repo, newest, site.identity()).ok
    assert 0 == start(site).wait(timeout=120)
    assert not list((site.repo / ".tmp").glob("*"))
