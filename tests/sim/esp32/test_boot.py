"""After a reset a virtual board boots from what was flashed and exposes that identity."""

from __future__ import annotations

import json
from pathlib import Path

from fleet.firmware.partition_table import LAYOUTS
from fleet.nvs.builder import NvsEntry, build_partition
from fleet.sim.esp32 import VirtualEsp32, serve_devices
from fleet.sim.firmware_gen import build_app_image, build_bootloader_image
from tests.sim.esp32.conftest import esptool

CONFIG = {
    "node_id": "nd-ph-1",
    "version": 3,
    "type": "ph",
    "gh_uid": "gh-1",
    "zone_uid": "zn-1",
    "channels": [],
    "node_secret": "ab" * 32,
    "mqtt": {"host": "127.0.0.1", "port": 1883, "keepalive": 30},
}


def _flash_files(tmp_path: Path, chip: str, config: dict[str, object] = CONFIG) -> list[str]:
    files = {
        0x1000 if chip == "esp32" else 0x0: build_bootloader_image(chip),
        0x8000: LAYOUTS["factory"].encode(),
        0x10000: build_app_image(chip, 200_000, project="hydro-ph", version="2.0.1"),
        0x9000: build_partition(
            [NvsEntry("node_config", "config", "string", json.dumps(config))], 0x6000
        ),
    }
    args = []
    for offset, data in files.items():
        path = tmp_path / f"{offset:x}.bin"
        path.write_bytes(data)
        args += [hex(offset), str(path)]
    return args


def test_boot_after_esptool_session_reports_node_identity(tmp_path: Path) -> None:
    """Closing esptool's session resets the board, which boots as the NodeConfig in its NVS."""
    device = VirtualEsp32("esp32", "24:0a:c4:aa:bb:01")
    with serve_devices([device]) as server:
        out = esptool(server.urls[0], "write-flash", "-z", *_flash_files(tmp_path, "esp32"))
        assert 0 == out.returncode, out.stdout
        assert server.ports[0].wait_idle(5)
    boot = device.last_boot
    assert boot is not None
    assert (True, None) == (boot.ok, boot.error)
    assert CONFIG == boot.node_config
    assert ("nd-ph-1", "esp32-240ac4aabb01") == (boot.node_uid, boot.hardware_id)
    assert ("hydro-ph", "2.0.1") == (boot.app_project, boot.app_version)
    assert "ab" * 32 not in repr(boot)


def test_wrong_chip_app_does_not_boot(tmp_path: Path) -> None:
    """An ESP32 app flashed onto an ESP32-C3 is reported as not bootable, naming the chip ids."""
    device = VirtualEsp32("esp32c3", "58:cf:79:aa:bb:02")
    device.flash.write(0x0, build_bootloader_image("esp32c3"))
    device.flash.write(0x8000, LAYOUTS["factory"].encode())
    device.flash.write(0x10000, build_app_image("esp32", 100_000))
    boot = device.reset()
    assert False is boot.ok
    assert "app in factory is built for chip id 0, this is ESP32-C3 (5)" == boot.error


def test_blank_board_does_not_boot() -> None:
    """A board with erased flash reports the missing bootloader."""
    boot = VirtualEsp32("esp32s3", "f4:12:fa:aa:bb:03").reset()
    assert (False, "no bootloader image at 0x0") == (boot.ok, boot.error)
