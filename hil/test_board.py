"""A real board (or any port esptool opens): detect, read MAC, flash a bundle, verify, NVS pull.

WARNING: this overwrites the board's bootloader, partition table, app and NVS with a
generated test firmware that does not run; reflash the board's real firmware afterwards.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from fleet.context import FleetContext
from fleet.firmware.store import FirmwareStore
from fleet.flashing.device import DeviceInfo, open_device
from fleet.flashing.flasher import flash_node
from fleet.flashing.nvs_pull import pull_nvs
from fleet.flashing.ports import list_usb_ports
from fleet.sim.firmware_gen import write_bundle
from hil.conftest import NODE_UID

APP_SIZE = 300_000


def test_detect_chip(board: DeviceInfo, chip: str) -> None:
    """esptool detects the chip the board is said to be."""
    assert chip == board.chip


def test_read_mac(board: DeviceInfo) -> None:
    """The factory MAC reads as six octets and maps to a hydro 2.0 hardware_id."""
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", board.mac)
    assert "esp32-" + board.mac.replace(":", "") == board.hardware_id


def test_flash_bundle_verify_and_pull_nvs(
    hil_ctx: FleetContext, port: str, chip: str, baud: int, tmp_path: Path
) -> None:
    """flash_node writes a bundle and the node's NVS (MD5-verified); reading back agrees."""
    store = FirmwareStore(hil_ctx.registry, hil_ctx.home)
    src = write_bundle(tmp_path / "fw", chip, app_size=APP_SIZE).path
    entry, _ = store.import_bundle(src)
    store.assign(entry.id, node=hil_ctx.registry.get_node(NODE_UID))

    result = flash_node(hil_ctx, NODE_UID, port, baud=baud)
    assert (NODE_UID, chip) == (result.node_uid, result.chip)
    assert {"bootloader", "partition-table", "app", "nvs"} <= {r.label for r in result.regions}

    _, bundle = store.load(entry.id)
    with open_device(port, baud) as dev:
        for f in bundle.files:
            assert hashlib.md5(f.data).hexdigest() == dev.md5(f.offset, len(f.data)), f.role

    pulled = pull_nvs(hil_ctx, port, NODE_UID, baud=baud)
    assert (NODE_UID, 0x9000) == (pulled.config_node_id, pulled.nvs_offset)


def test_port_is_a_known_usb_bridge(port: str) -> None:
    """The station's USB scan lists the board's port (its VID:PID is a known bridge)."""
    if "://" in port:
        pytest.skip("not a USB serial device")
    assert port in {p.url for p in list_usb_ports()}
