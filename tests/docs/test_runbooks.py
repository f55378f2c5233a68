"""Runbooks run as written: every shell block marked `<!-- runnable -->` in docs/ is executed.

Each block runs in bash with `set -euo pipefail` from the checkout's root, with this
environment's `fleet` first on PATH and nothing else prepared: what the page says is all a
reader gets. A block that stops with an error, or leaves a background job running, fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARK = re.compile(r"<!-- runnable -->\s*\n```(?:sh|bash)\n(.*?)\n```", re.S)


def runnable_blocks() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for i, match in enumerate(MARK.finditer(page.read_text(encoding="utf-8"))):
            found.append((f"{page.name}#{i + 1}", match.group(1)))
    return found


BLOCKS = runnable_blocks()


def test_the_station_walkthrough_is_marked_runnable() -> None:
    """The runbook the README points new users to is among the blocks that are run."""
    assert any(name.startswith("station.md") for name, _ in BLOCKS)


@pytest.mark.parametrize(("name", "script"), BLOCKS, ids=[n for n, _ in BLOCKS])
def test_runbook_block_runs_as_written(name: str, script: str, tmp_path: Path) -> None:
    """The block exits 0 with nothing but what the page says, and its jobs are gone after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TMPDIR"] = str(tmp_path)
    # on any exit, stop what the block started in the background (it would hold the pipes)
    wrapped = (
        f"set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}\nwait\n"
    )
    done = subprocess.run(
        ["bash", "-c", wrapped],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert 0 == done.returncode, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if name.startswith("station.md"):
        assert "nd-ph-1" in done.stdout and "nd-ec-1" in done.stdout
        assert "flashed" in done.stdout
