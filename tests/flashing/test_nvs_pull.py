"""`fleet nvs pull`: a live board's NVS is read back, parsed and escrowed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli import nvs_pull
from fleet.context import FleetContext
from fleet.errors import NotFound
from fleet.firmware.store import FirmwareEntry
from fleet.flashing.flasher import flash_node
from fleet.flashing.nvs_pull import pull_nvs
from fleet.sim.esp32 import DeviceServer

from .conftest import NODES

Boards = Callable[..., DeviceServer]


def test_pull_escrows_what_the_board_holds(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """The pulled image is the board's nvs partition, found by MAC, stored in the vault."""
    server = boards(("esp32c3", NODES[1][3]))
    flash_node(fctx, "nd-light-1", server.urls[0])
    server.ports[0].wait_idle(5)
    result = pull_nvs(fctx, server.urls[0])
    on_chip = server.devices[0].flash.read(result.nvs_offset, result.nvs_size)
    assert ("nd-light-1", "nd-light-1") == (result.node_uid, result.config_node_id)
    assert on_chip == fctx.vault.get("nvs_image", "nd-light-1")
    assert "********" == result.config["node_secret"]


def test_pull_from_unknown_board_is_not_found(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """A board no node is registered with is reported, naming its hardware_id."""
    server = boards(("esp32", "24:0a:c4:12:34:56"))
    with pytest.raises(NotFound, match="esp32-240ac4123456"):
        pull_nvs(fctx, server.urls[0])


def test_cli_pull_json(
    home: Path, fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """The pull command prints the record as JSON without the secret."""
    server = boards(("esp32", NODES[0][3]))
    flash_node(fctx, "nd-ph-1", server.urls[0])
    server.ports[0].wait_idle(5)
    out = CliRunner().invoke(
        nvs_pull.app,
        ["--port", server.urls[0], "--node", "nd-ph-1", "--json"],
        env={"FLEET_HOME": str(home)},
    )
    assert 0 == out.exit_code, out.output
    assert "nd-ph-1" == json.loads(out.stdout)["node_uid"]
    assert fctx.vault.node_secret("nd-ph-1") not in out.stdout
