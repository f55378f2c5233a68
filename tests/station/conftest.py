"""Fixtures of the station tests: a data directory with 8 nodes of mixed chips, their firmware,
and their boards as virtual ESP32s on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.context import FleetContext
from fleet.firmware.store import FirmwareStore
from fleet.settings import Settings
from fleet.sim.esp32 import DeviceServer, VirtualEsp32, serve_devices
from fleet.sim.firmware_gen import write_bundle
from fleet.sim.site import prepare_home

APP_SIZE = 120_000

# uid, node type, chip, MAC of its board
NODES = [
    ("nd-ph-1", "ph", "esp32", "24:0a:c4:00:01:01"),
    ("nd-ec-1", "ec", "esp32", "24:0a:c4:00:01:02"),
    ("nd-pump-1", "pump", "esp32", "24:0a:c4:00:01:03"),
    ("nd-relay-1", "relay", "esp32", "24:0a:c4:00:01:04"),
    ("nd-light-1", "light", "esp32c3", "34:85:18:00:01:05"),
    ("nd-light-2", "light", "esp32c3", "34:85:18:00:01:06"),
    ("nd-test-1", "ph", "esp32s3", "f4:12:fa:00:01:07"),
    ("nd-test-2", "ph", "esp32s3", "f4:12:fa:00:01:08"),
]


def hwid(mac: str) -> str:
    """hydro 2.0 hardware_id of a MAC."""
    return "esp32-" + mac.replace(":", "")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory: the 8 nodes (secrets in the vault), site values, firmware per chip."""
    tmp = tmp_path_factory.mktemp("station")
    path = tmp / "home"
    ctx = prepare_home(path, NODES)
    store = FirmwareStore(ctx.registry, ctx.home)
    entries = {}
    for chip in ("esp32", "esp32c3", "esp32s3"):
        src = write_bundle(tmp / f"fw-{chip}", chip, app_size=APP_SIZE).path
        entries[chip], _ = store.import_bundle(src)
    for uid, _kind, chip, _mac in NODES:
        store.assign(entries[chip].id, node=ctx.registry.get_node(uid))
    return path


@pytest.fixture
def fctx(home: Path) -> FleetContext:
    """A FleetContext on `home`."""
    return FleetContext.open(settings=Settings.load(home, environ={}))


@pytest.fixture
def boards() -> Iterator[DeviceServer]:
    """The 8 nodes' boards, served on free loopback ports, in NODES order."""
    devices = [VirtualEsp32(chip, mac) for _uid, _kind, chip, mac in NODES]
    with serve_devices(devices) as server:
        yield server
