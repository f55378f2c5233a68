"""The bundle generator: images real esptool accepts, content that compresses like firmware."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from esptool.bin_image import LoadFirmwareImage
from esptool.cmds import _parse_app_info

from fleet.sim.firmware_gen import build_app_image, firmware_like_bytes


@pytest.mark.parametrize("chip", ["esp32", "esp32c3", "esp32s3"])
def test_esptool_reads_generated_app(chip: str) -> None:
    """esptool's own image loader finds a valid checksum, SHA-256 and app description."""
    image = LoadFirmwareImage(chip, build_app_image(chip, 100_000, version="3.4.5"))
    assert image.checksum == image.calculate_checksum()
    assert image.stored_digest == image.calc_digest
    desc = _parse_app_info(image.segments[0].data)
    assert ("hydro-node", "3.4.5") == (desc["project_name"], desc["version"])


def test_app_content_compresses_like_firmware() -> None:
    """Generated code deflates to 60-70 % at esptool's zlib level 9 (not padding)."""
    data = firmware_like_bytes(400_000, seed=3)
    ratio = len(zlib.compress(data, 9)) / len(data)
    assert 0.60 <= ratio <= 0.70


def test_same_seed_same_bytes() -> None:
    """The generator is deterministic, so an unchanged app reflashes as unchanged."""
    assert build_app_image("esp32", 50_000, seed=5) == build_app_image("esp32", 50_000, seed=5)


def test_esptool_cli_image_info_reports_valid(tmp_path: Path) -> None:
    """The stock `esptool image-info` CLI reports checksum, digest and app description."""
    path = tmp_path / "app.bin"
    path.write_bytes(build_app_image("esp32c3", 60_000, version="9.9.9"))
    out = subprocess.run(
        [sys.executable, "-m", "esptool", "image-info", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Checksum:" in out and "(valid)" in out.split("Checksum:")[1].splitlines()[0]
    assert "(valid)" in out.split("Validation hash:")[1].splitlines()[0]
    assert "Project name: hydro-node" in out and "App version: 9.9.9" in out
