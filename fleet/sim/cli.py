"""Running the real `fleet` executable from tests and scripts (public testing aid)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

FLEET_EXE = Path(sys.executable).parent / "fleet"


def run_fleet(
    home: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`fleet --home HOME ARGS...` in a fresh process, output captured as text.

    The caller's `FLEET_*` variables are left out (so the test's home is the only
    setting), `env` is added on top, and the console is 200 columns wide so that tables
    are not cut.
    """
    full = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    full["COLUMNS"] = "200"
    full.update(env or {})
    return subprocess.run(
        [str(FLEET_EXE), "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=full,
        input=stdin,
        check=False,
        timeout=timeout,
    )
