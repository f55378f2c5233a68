"""`fleet sim esp32` serves boards that esptool finds on consecutive ports with consecutive MACs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.sim.esp32.conftest import esptool

FLEET = str(Path(sys.executable).parent / "fleet")


def test_sim_esp32_count_serves_consecutive_boards(tmp_path: Path) -> None:
    """--count 2 --json lists two boards; esptool reads the second one's MAC (first + 1)."""
    proc = subprocess.Popen(
        [
            FLEET,
            "--home",
            str(tmp_path),
            "sim",
            "esp32",
            "--chip",
            "esp32c3",
            "--mac",
            "58:cf:79:00:00:ff",
            "--count",
            "2",
            "--json",
            "--duration",
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        text = ""
        while True:
            line = proc.stdout.readline()
            assert line, "fleet sim esp32 exited early"
            text += line
            if line.startswith("}"):
                break
        boards = json.loads(text)["devices"]
        assert ["esp32-58cf790000ff", "esp32-58cf79000100"] == [b["hardware_id"] for b in boards]
        out = esptool(boards[1]["url"], "read-mac", stub=False)
        assert 0 == out.returncode, out.stdout
        assert "MAC:                58:cf:79:00:01:00" in out.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=10)
