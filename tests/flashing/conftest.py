"""Fixtures of the flashing tests: a data directory with nodes, site values and firmware,
and virtual ESP32 boards (fleet.sim.esp32) served on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet.context import FleetContext
from fleet.firmware.store import FirmwareEntry, FirmwareStore
from fleet.settings import Settings
from fleet.sim.esp32 import DeviceServer, VirtualEsp32, serve_devices
from fleet.sim.firmware_gen import write_bundle
from fleet.sim.site import prepare_home

APP_SIZE = 200_000

# uid, node type, chip, MAC of its board
NODES = [
    ("nd-ph-1", "ph", "esp32", "24:0a:c4:00:00:01"),
    ("nd-light-1", "light", "esp32c3", "34:85:18:00:00:02"),
    ("nd-test-1", "ph", "esp32s3", "f4:12:fa:00:00:03"),
]


def hwid(mac: str) -> str:
    """hydro 2.0 hardware_id of a MAC."""
    return "esp32-" + mac.replace(":", "")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory with the test nodes registered (secrets in the vault) and site values."""
    path = tmp_path / "home"
    prepare_home(path, NODES)
    return path


@pytest.fixture
def fctx(home: Path) -> FleetContext:
    """A FleetContext on `home`."""
    return FleetContext.open(settings=Settings.load(home, environ={}))


@pytest.fixture
def firmware(fctx: FleetContext, tmp_path: Path) -> dict[str, FirmwareEntry]:
    """One imported firmware per chip, assigned to the node types of NODES."""
    store = FirmwareStore(fctx.registry, fctx.home)
    out = {}
    for chip, kind in (("esp32", "ph"), ("esp32c3", "light"), ("esp32s3", "ph")):
        src = write_bundle(tmp_path / f"fw-{chip}", chip, app_size=APP_SIZE).path
        entry, _ = store.import_bundle(src)
        store.assign(entry.id, node_type=kind)
        out[chip] = entry
    return out


@pytest.fixture
def boards() -> Iterator[Callable[..., DeviceServer]]:
    """Start virtual boards: `boards((chip, mac), ...)` -> a DeviceServer; all stopped after."""
    servers: list[Any] = []

    def start(*specs: tuple[str, str], **kw: Any) -> DeviceServer:
        cm = serve_devices([VirtualEsp32(chip, mac, **kw) for chip, mac in specs])
        server = cm.__enter__()
        servers.append(cm)
        return server

    yield start
    for cm in servers:
        cm.__exit__(None, None, None)
