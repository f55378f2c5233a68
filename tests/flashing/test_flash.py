"""`flash_node` and `fleet flash` against virtual ESP32 boards driven by real esptool."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.context import FleetContext
from fleet.errors import Conflict, DeviceError, ValidationError
from fleet.firmware.store import FirmwareEntry, FirmwareStore
from fleet.flashing.flasher import flash_node
from fleet.nvs.escrow import build_for_node, image_for_node
from fleet.nvs.nodeconfig import read_nodeconfig
from fleet.nvs.site import set_value
from fleet.registry import NodeSpec
from fleet.sim.esp32 import DeviceServer

from .conftest import NODES, hwid

Boards = Callable[..., DeviceServer]


def _audits(fctx: FleetContext, uid: str) -> list[dict[str, Any]]:
    return [a for a in fctx.registry.audit_log(node_uid=uid) if a["action"] == "node.flash"]


@pytest.mark.parametrize("uid,kind,chip,mac", NODES)
def test_flash_puts_everything_at_its_offset(
    fctx: FleetContext,
    firmware: dict[str, FirmwareEntry],
    boards: Boards,
    uid: str,
    kind: str,
    chip: str,
    mac: str,
) -> None:
    """After a flash the chip holds bootloader, table, app and the node's own NVS, and boots
    as that node."""
    server = boards((chip, mac))
    board = server.devices[0]
    result = flash_node(fctx, uid, server.urls[0])
    server.ports[0].wait_idle(5)
    _, bundle = FirmwareStore(fctx.registry, fctx.home).load(firmware[chip].id)
    for f in bundle.files:
        assert f.data == board.flash.read(f.offset, len(f.data)), f.role
    nvs = bundle.partition_table.nvs
    assert nvs is not None
    on_chip = board.flash.read(nvs.offset, nvs.size)
    assert image_for_node(fctx, uid) == on_chip
    config = read_nodeconfig(on_chip)
    assert (uid, "gh-1", "zn-1") == (config["node_id"], config["gh_uid"], config["zone_uid"])
    assert fctx.vault.node_secret(uid) == config["node_secret"]
    assert (uid, hwid(mac), firmware[chip].id) == (
        result.node_uid,
        result.hardware_id,
        result.firmware_id,
    )
    assert firmware[chip].version == fctx.registry.get_node(uid).fw_version
    assert board.last_boot is not None and board.last_boot.ok
    assert ["ok"] == [a["outcome"] for a in _audits(fctx, uid)]


def test_reflash_with_unchanged_app_writes_only_nvs(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """A second flash after a NodeConfig change rewrites NVS sectors only."""
    server = boards(("esp32", NODES[0][3]))
    flash_node(fctx, "nd-ph-1", server.urls[0])
    server.ports[0].wait_idle(5)
    set_value(fctx, "mqtt.host", "10.0.0.99")
    build_for_node(FleetContext.open(settings=fctx.settings.load(fctx.home, environ={})), "nd-ph-1")
    result = flash_node(fctx, "nd-ph-1", server.urls[0])
    server.ports[0].wait_idle(5)
    written = {r.label: r.written for r in result.regions}
    assert 0 == written["app"] + written["bootloader"] + written["partition-table"]
    assert 0 < written["nvs"] <= 0x6000
    config = read_nodeconfig(server.devices[0].flash.read(0x9000, 0x6000))
    assert "10.0.0.99" == config["mqtt"]["host"]


def test_foreign_board_is_refused_and_untouched(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """A board whose MAC is not the node's is refused before anything is written."""
    server = boards(("esp32", "24:0a:c4:99:99:99"))
    with pytest.raises(Conflict, match="--replacement"):
        flash_node(fctx, "nd-ph-1", server.urls[0])
    assert 0 == server.devices[0].bytes_written
    assert ["error"] == [a["outcome"] for a in _audits(fctx, "nd-ph-1")]
    assert hwid(NODES[0][3]) == fctx.registry.get_node("nd-ph-1").hardware_id


def test_replacement_board_is_recorded(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """With replacement=True the new board is flashed and its hardware_id recorded, audited."""
    server = boards(("esp32", "24:0a:c4:99:99:98"))
    result = flash_node(fctx, "nd-ph-1", server.urls[0], replacement=True)
    assert result.replacement
    assert "esp32-240ac4999998" == fctx.registry.get_node("nd-ph-1").hardware_id
    detail = _audits(fctx, "nd-ph-1")[-1]["detail"]
    assert hwid(NODES[0][3]) == detail["previous_hardware_id"]


def test_board_of_another_node_is_refused_even_as_replacement(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """A board registered to another node is never taken over."""
    fctx.registry.add_node(
        NodeSpec("nd-ph-2", "gh-1", "zn-1", "ph", hardware_id="esp32-240ac4777777")
    )
    server = boards(("esp32", "24:0a:c4:77:77:77"))
    with pytest.raises(Conflict, match="nd-ph-2"):
        flash_node(fctx, "nd-ph-1", server.urls[0], replacement=True)


def test_wrong_chip_board_is_refused(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """An ESP32-C3 on the port of an ESP32 node is refused naming both chips."""
    server = boards(("esp32c3", NODES[0][3]))
    with pytest.raises(ValidationError, match="is an esp32c3, node nd-ph-1 is an esp32"):
        flash_node(fctx, "nd-ph-1", server.urls[0])


def test_unplug_mid_write_then_retry(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """A cable pulled mid-write fails the job (nothing recorded as done); the retry succeeds."""
    server = boards(("esp32", NODES[0][3]))
    board, port = server.devices[0], server.ports[0]
    board.faults.replug_after = None
    board.faults.drop_after_bytes = 60_000
    with pytest.raises(DeviceError) as info:
        flash_node(fctx, "nd-ph-1", server.urls[0])
    assert server.urls[0] in info.value.message
    assert fctx.registry.get_node("nd-ph-1").fw_version is None
    assert ["error"] == [a["outcome"] for a in _audits(fctx, "nd-ph-1")]
    port.plug()
    result = flash_node(fctx, "nd-ph-1", server.urls[0])
    port.wait_idle(5)
    assert firmware["esp32"].version == fctx.registry.get_node("nd-ph-1").fw_version
    app = next(r for r in result.regions if r.label == "app")
    assert (
        board.flash.read(app.offset, 1000)
        == FirmwareStore(fctx.registry, fctx.home)
        .load(firmware["esp32"].id)[1]
        .file("app")
        .data[:1000]
    )  # type: ignore[union-attr]


def test_bad_write_is_caught_by_md5(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """A byte that lands wrong in flash fails verification instead of being reported done."""
    server = boards(("esp32", NODES[0][3]))
    server.devices[0].faults.corrupt_write_at = 0x10000 + 5000
    with pytest.raises(DeviceError, match="MD5"):
        flash_node(fctx, "nd-ph-1", server.urls[0])
    assert fctx.registry.get_node("nd-ph-1").fw_version is None


def test_nvs_only_uses_the_chips_table(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """--nvs-only writes nothing but the nvs partition found in the chip's own table."""
    server = boards(("esp32", NODES[0][3]))
    flash_node(fctx, "nd-ph-1", server.urls[0])
    server.ports[0].wait_idle(5)
    before = server.devices[0].bytes_written
    image = bytearray(image_for_node(fctx, "nd-ph-1"))
    result = flash_node(fctx, "nd-ph-1", server.urls[0], nvs_only=True, nvs_image=bytes(image))
    assert ["nvs"] == [r.label for r in result.regions]
    assert 0 == result.bytes_written
    assert before == server.devices[0].bytes_written


def test_cli_flash_json(home: Path, firmware: dict[str, FirmwareEntry], boards: Boards) -> None:
    """`fleet flash UID --port URL --json` reports the board and bytes; a stranger exits 73."""
    server = boards(("esp32", NODES[0][3]), ("esp32", "24:0a:c4:55:55:55"))
    runner = CliRunner()
    out = runner.invoke(
        app, ["--home", str(home), "flash", "nd-ph-1", "--port", server.urls[0], "--json"]
    )
    assert 0 == out.exit_code, out.output
    doc = json.loads(out.stdout)
    assert (hwid(NODES[0][3]), firmware["esp32"].id) == (doc["hardware_id"], doc["firmware_id"])
    assert doc["bytes_written"] > APP_MIN
    out = runner.invoke(
        app, ["--home", str(home), "flash", "nd-ph-1", "--port", server.urls[1], "--json"]
    )
    assert 73 == out.exit_code
    assert "Conflict" == json.loads(out.stdout)["error"]


APP_MIN = 150_000


def test_progress_reports_every_stage(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """The progress callback walks connect, compare, write, reset and ends the write at 100 %."""
    server = boards(("esp32", NODES[0][3]))
    seen: list[tuple[str, int, int]] = []
    flash_node(fctx, "nd-ph-1", server.urls[0], progress=lambda s, d, t: seen.append((s, d, t)))
    stages = list(dict.fromkeys(s for s, _, _ in seen))
    assert ["connect", "compare", "write", "reset"] == stages
    writes = [(d, t) for s, d, t in seen if s == "write" and t > 1]
    assert writes and all(d <= t for d, t in writes)
    assert writes[-1][0] == writes[-1][1]


def test_flash_on_an_open_connection(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """A caller that already identified the board hands its connection over (one stub upload)."""
    from fleet.flashing.device import open_device

    server = boards(("esp32", NODES[0][3]))
    with open_device(server.urls[0]) as dev:
        result = flash_node(fctx, "nd-ph-1", server.urls[0], device=dev)
    assert hwid(NODES[0][3]) == result.hardware_id
    assert 1 == server.ports[0].sessions


def test_ota_layout_bundle(fctx: FleetContext, boards: Boards, tmp_path: Path) -> None:
    """A bundle with OTA slots resets otadata (boot ota_0), writes the app to ota_0 and an NVS
    sized by its table."""
    from fleet.sim.firmware_gen import write_bundle

    store = FirmwareStore(fctx.registry, fctx.home)
    entry, _ = store.import_bundle(write_bundle(tmp_path / "ota", "esp32", layout="ota").path)
    store.assign(entry.id, node=fctx.registry.get_node("nd-ph-1"))
    server = boards(("esp32", NODES[0][3]))
    server.devices[0].flash.write(0xD000, b"\x01" * 32)  # the board last booted ota_1
    result = flash_node(fctx, "nd-ph-1", server.urls[0])
    placed = {r.label: (r.offset, r.size, r.written) for r in result.regions}
    assert (0xD000, 0x2000, 0x1000) == placed["otadata"]  # only the changed sector
    assert (0x9000, 0x4000) == placed["nvs"][:2]
    assert 0x10000 == placed["app"][0]
    assert b"\xff" * 0x2000 == server.devices[0].flash.read(0xD000, 0x2000)


def test_first_flash_binds_a_node_without_hardware_id(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards
) -> None:
    """A node registered without a MAC takes the board it is first flashed on."""
    from fleet.registry.importing import ImportRow, import_rows

    spec = NodeSpec("nd-ph-9", "gh-1", "zn-1", "ph")
    import_rows(fctx.registry, fctx.vault, [ImportRow(spec, None)], source="test")
    server = boards(("esp32", "24:0a:c4:00:00:09"))
    result = flash_node(fctx, "nd-ph-9", server.urls[0])
    assert (False, "esp32-240ac4000009") == (
        result.replacement,
        fctx.registry.get_node("nd-ph-9").hardware_id,
    )


def test_stock_esptool_reads_back_the_nodes_nvs(
    fctx: FleetContext, firmware: dict[str, FirmwareEntry], boards: Boards, tmp_path: Path
) -> None:
    """Reading the board back with the stock esptool CLI gives the node's NodeConfig at 0x9000."""
    import subprocess
    import sys

    server = boards(("esp32", NODES[0][3]))
    flash_node(fctx, "nd-ph-1", server.urls[0])
    server.ports[0].wait_idle(5)
    out = tmp_path / "nvs.bin"
    subprocess.run(
        [sys.executable, "-m", "esptool", "--port", server.urls[0], "read-flash", "0x9000",
         "0x6000", str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    data = out.read_bytes()
    out.unlink()  # it holds the (test) node_secret
    assert "nd-ph-1" == read_nodeconfig(data)["node_id"]
