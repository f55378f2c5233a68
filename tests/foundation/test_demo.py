"""The README's main job: `fleet demo` runs every step on embedded defaults and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(240)
def test_demo_runs_every_step() -> None:
    """Registry, NVS escrow, station, serve + broker crash, backup + drill all succeed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["COLUMNS"] = "160"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "fleet"), "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=230,
        check=False,
    )
    assert 0 == done.returncode, done.stdout[-3000:] + done.stderr[-2000:]
    out = done.stdout
    assert "0 step(s) failed" in out
    assert "verify nd-" in out and ": OK" in out
    assert "flashed" in out
    assert "reboot campaign" in out and "nodes for the station" in out
    assert "PASSED" in out and "RTO" in out
