"""Fixtures: virtual ESP32 boards on free loopback ports, and the real esptool CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.sim.esp32 import DeviceServer, VirtualEsp32, serve_devices

ESPTOOL = str(Path(sys.executable).parent / "esptool")
MACS = {
    "esp32": "24:0a:c4:12:34:01",
    "esp32c3": "58:cf:79:12:34:02",
    "esp32s3": "f4:12:fa:12:34:03",
}


def esptool(url: str, *args: str, stub: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the stock esptool CLI against `url`; output in .stdout (stderr merged)."""
    cmd = [ESPTOOL, "--port", url, *([] if stub else ["--no-stub"]), *args]
    return subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120
    )


@pytest.fixture
def boards() -> Iterator[DeviceServer]:
    """One board of each modelled chip, served; keyed by position: esp32, esp32c3, esp32s3."""
    devices = [VirtualEsp32(chip, mac) for chip, mac in MACS.items()]
    with serve_devices(devices) as server:
        yield server


@pytest.fixture
def firmware_like() -> bytes:
    """600 kB that deflates to about 65%, like a real app image."""
    from fleet.sim.firmware_gen import firmware_like_bytes

    return firmware_like_bytes(600_000, 3)
