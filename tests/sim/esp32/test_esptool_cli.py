"""The stock esptool CLI cannot tell a virtual board from a real one."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fleet.sim.esp32 import DeviceServer
from fleet.sim.esp32.opcodes import FLASH_DATA, FLASH_DEFL_DATA
from tests.sim.esp32.conftest import MACS, esptool

CHIPS = list(MACS)
DISPLAY = {"esp32": "ESP32", "esp32c3": "ESP32-C3", "esp32s3": "ESP32-S3"}


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "no-stub"])
@pytest.mark.parametrize("index", range(3), ids=CHIPS)
def test_detect_write_verify_read(
    boards: DeviceServer, index: int, stub: bool, firmware_like: bytes, tmp_path: Path
) -> None:
    """chip-id, read-mac, write-flash -z, verify-flash and read-flash all succeed per chip."""
    url, device = boards.urls[index], boards.devices[index]
    chip = CHIPS[index]
    app = tmp_path / "app.bin"
    app.write_bytes(firmware_like)

    out = esptool(url, "chip-id", stub=stub)
    assert 0 == out.returncode, out.stdout
    assert f"Connected to {DISPLAY[chip]} on" in out.stdout

    out = esptool(url, "read-mac", stub=stub)
    assert 0 == out.returncode, out.stdout
    assert f"MAC:                {MACS[chip]}" in out.stdout

    out = esptool(url, "write-flash", "-z", "0x10000", str(app), stub=stub)
    assert 0 == out.returncode, out.stdout
    assert "Hash of data verified." in out.stdout
    assert firmware_like == device.flash.read(0x10000, len(firmware_like))

    out = esptool(url, "verify-flash", "0x10000", str(app), stub=stub)
    assert 0 == out.returncode, out.stdout
    assert "Verification successful (digest matched)." in out.stdout

    back = tmp_path / "back.bin"
    out = esptool(url, "read-flash", "0x10000", "0x2000", str(back), stub=stub)
    assert 0 == out.returncode, out.stdout
    assert firmware_like[:0x2000] == back.read_bytes()


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "no-stub"])
def test_uncompressed_write_lands_byte_exact(
    boards: DeviceServer, stub: bool, tmp_path: Path
) -> None:
    """write-flash -u goes through plain FLASH_DATA blocks and lands byte for byte."""
    data = random.Random(5).randbytes(64_000)  # not a whole number of sectors
    blob = tmp_path / "blob.bin"
    blob.write_bytes(data)
    out = esptool(boards.urls[0], "write-flash", "-u", "0x200000", str(blob), stub=stub)
    assert 0 == out.returncode, out.stdout
    assert data == boards.devices[0].flash.read(0x200000, len(data))
    commands = boards.devices[0].commands
    assert (True, False) == (commands[FLASH_DATA] > 0, commands[FLASH_DEFL_DATA] > 0)


@pytest.mark.parametrize("index", range(3), ids=CHIPS)
def test_flash_size_is_detected(boards: DeviceServer, index: int) -> None:
    """flash-id reports the production flash size of each chip (4 MB; 16 MB on S3)."""
    out = esptool(boards.urls[index], "flash-id")
    expected = "16MB" if CHIPS[index] == "esp32s3" else "4MB"
    assert 0 == out.returncode, out.stdout
    assert f"Detected flash size: {expected}" in out.stdout


def test_erase_region_leaves_ff(boards: DeviceServer, tmp_path: Path) -> None:
    """erase-region through the stub turns exactly the erased sectors back to 0xFF."""
    device = boards.devices[1]
    device.flash.write(0x10000, b"\x00" * 0x3000)
    out = esptool(boards.urls[1], "erase-region", "0x11000", "0x1000")
    assert 0 == out.returncode, out.stdout
    expected = b"\x00" * 0x1000 + b"\xff" * 0x1000 + b"\x00" * 0x1000
    assert expected == device.flash.read(0x10000, 0x3000)
