"""A virtual ESP32 in a process of its own (as `fleet sim esp32` runs it), for benchmarks.

One process per board keeps each board's CPU cost off the caller's interpreter, as real
boards would.
"""

from __future__ import annotations

import json
import subprocess
import sys

from fleet.errors import DeviceError


def spawn_board(
    mac: str, chip: str = "esp32", baud_pace: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start `fleet sim esp32` for one board; (the process, its socket:// URL).

    The caller stops the process (terminate + wait). DeviceError when it exits before it
    has said where it listens.
    """
    cmd = [sys.executable, "-m", "fleet", "sim", "esp32", "--chip", chip, "--mac", mac, "--json"]
    if baud_pace:
        cmd += ["--baud-pace", str(baud_pace)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    text = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            raise DeviceError(f"virtual board {mac} exited with {proc.returncode} before listening")
        text += line
        try:
            return proc, str(json.loads(text)["devices"][0]["url"])
        except json.JSONDecodeError:
            continue
