"""Hardware-in-the-loop options and fixtures: `pytest hil --port /dev/ttyUSB0 --chip esp32`.

Without `--port` every test here is skipped. `--port` takes anything esptool opens: a
serial device, or a `socket://host:port` URL (a virtual board, to check the suite itself).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.context import FleetContext
from fleet.flashing.device import DeviceInfo, open_device
from fleet.home import init_home
from fleet.nvs.site import set_value
from fleet.registry import NodeSpec
from fleet.registry.importing import ImportRow, import_rows
from fleet.settings import Settings

NODE_UID = "nd-hil-1"
NODE_TYPE = {"esp32": "ph", "esp32c3": "light", "esp32s3": "ph"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--port", default=None, help="serial port or URL of the board under test")
    parser.addoption(
        "--chip", default="esp32", choices=sorted(NODE_TYPE), help="chip of the board under test"
    )
    parser.addoption("--baud", type=int, default=460800, help="baud rate once the stub is up")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--port"):
        return
    skip = pytest.mark.skip(reason="hardware test: pass --port (and --chip) to run")
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def port(request: pytest.FixtureRequest) -> str:
    """The board's port, from --port."""
    return str(request.config.getoption("--port"))


@pytest.fixture(scope="session")
def chip(request: pytest.FixtureRequest) -> str:
    """The chip the board is expected to be, from --chip."""
    return str(request.config.getoption("--chip"))


@pytest.fixture(scope="session")
def baud(request: pytest.FixtureRequest) -> int:
    """Baud rate after the stub is running, from --baud."""
    return int(request.config.getoption("--baud"))


@pytest.fixture(scope="session")
def board(port: str) -> DeviceInfo:
    """Who is on the port (one connection: chip detection, stub, MAC, flash size)."""
    with open_device(port, 0) as dev:
        return dev.info


@pytest.fixture(scope="session")
def hil_home(tmp_path_factory: pytest.TempPathFactory, board: DeviceInfo, chip: str) -> Path:
    """A data directory with one node registered to the board's MAC, and site values."""
    path = tmp_path_factory.mktemp("hil") / "home"
    settings = Settings.load(path, environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    spec = NodeSpec(
        NODE_UID, "gh-1", "zn-1", NODE_TYPE[chip], hardware_id=board.hardware_id, chip=chip
    )
    import_rows(ctx.registry, ctx.vault, [ImportRow(spec, None)], source="hil")
    for key, value in [("wifi.ssid", "hil"), ("wifi.pass", "hil-pass"), ("mqtt.host", "10.0.0.2")]:
        set_value(ctx, key, value)
    return path


@pytest.fixture
def hil_ctx(hil_home: Path) -> FleetContext:
    """A FleetContext on the HIL data directory."""
    return FleetContext.open(settings=Settings.load(hil_home, environ={}))
