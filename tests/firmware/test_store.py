"""The firmware store and `fleet firmware`: import, list, load, assign, resolve."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.errors import CorruptData, NotFound, ValidationError
from fleet.firmware.store import FirmwareStore
from fleet.registry import NodeSpec


def _store(fctx: Any) -> FirmwareStore:
    return FirmwareStore(fctx.registry, fctx.home)


def test_import_is_idempotent_and_listed(fctx: Any, make_bundle: Callable[..., Path]) -> None:
    """Importing the same build twice stores one entry; list shows chip, project, version."""
    store = _store(fctx)
    src = make_bundle("esp32c3", layout="ota", version="1.2.3")
    first, added = store.import_bundle(src)
    again, added_again = store.import_bundle(src)
    assert (True, False) == (added, added_again)
    assert first == again
    assert [("esp32c3", "hydro-node", "1.2.3", True)] == [
        (e.chip, e.project, e.version, e.ota) for e in store.entries()
    ]
    assert (fctx.home / "firmware" / first.id / "app.bin").is_file()


def test_refused_bundle_stores_nothing(fctx: Any, make_bundle: Callable[..., Path]) -> None:
    """A bundle refused by validation leaves no entry and no folder behind."""
    src = make_bundle("esp32")
    (src / "partition_table/partition-table.bin").write_bytes(b"\xff" * 3072)
    with pytest.raises(ValidationError):
        _store(fctx).import_bundle(src)
    assert [] == _store(fctx).entries()
    folder = fctx.home / "firmware"
    assert [] == (list(folder.iterdir()) if folder.exists() else [])


def test_stored_file_damage_is_detected(fctx: Any, make_bundle: Callable[..., Path]) -> None:
    """A stored app changed on disk after import is reported as damaged, naming the entry."""
    store = _store(fctx)
    entry, _ = store.import_bundle(make_bundle("esp32"))
    app_bin = fctx.home / "firmware" / entry.id / "app.bin"
    data = bytearray(app_bin.read_bytes())
    data[5000] ^= 0xFF
    app_bin.write_bytes(bytes(data))
    with pytest.raises(CorruptData, match=entry.id):
        store.load(entry.id)


def test_assignment_resolution(fctx: Any, make_bundle: Callable[..., Path]) -> None:
    """A node gets its own assignment over its type's, and only firmware of its chip."""
    store = _store(fctx)
    typed, _ = store.import_bundle(make_bundle("esp32", version="1.0.0"))
    special, _ = store.import_bundle(make_bundle("esp32", version="1.1.0", seed=2))
    light, _ = store.import_bundle(make_bundle("esp32c3", version="1.0.0"))
    reg = fctx.registry
    reg.add_node(NodeSpec("nd-ph-1", "gh-1", "zn-1", "ph", hardware_id="esp32-aabbccddee01"))
    reg.add_node(NodeSpec("nd-ph-2", "gh-1", "zn-1", "ph", hardware_id="esp32-aabbccddee02"))
    with pytest.raises(NotFound, match="nd-ph-1"):
        store.resolve(reg.get_node("nd-ph-1"))
    store.assign(typed.id, node_type="ph")
    store.assign(special.id[:6], node=reg.get_node("nd-ph-2"))
    assert typed.id == store.resolve(reg.get_node("nd-ph-1")).id
    assert special.id == store.resolve(reg.get_node("nd-ph-2")).id
    with pytest.raises(ValidationError, match="is for esp32c3, node nd-ph-1 is esp32"):
        store.assign(light.id, node=reg.get_node("nd-ph-1"))


def test_cli_import_list_assign(home: Path, make_bundle: Callable[..., Path]) -> None:
    """`fleet firmware import|list|assign --json` report what a script needs; bad input exits 65."""
    runner = CliRunner()
    base = ["--home", str(home)]
    out = runner.invoke(app, [*base, "firmware", "import", str(make_bundle("esp32")), "--json"])
    assert 0 == out.exit_code, out.output
    fid = json.loads(out.stdout)["id"]
    out = runner.invoke(app, [*base, "firmware", "assign", fid, "--node-type", "ph", "--json"])
    assert 0 == out.exit_code, out.output
    out = runner.invoke(app, [*base, "firmware", "list", "--json"])
    listed = json.loads(out.stdout)
    assert [fid] == [e["id"] for e in listed["firmware"]]
    assert {"id", "chip", "project", "version", "sha256"} <= set(listed["firmware"][0])
    assert [{"kind": "node_type", "target": "ph", "chip": "esp32", "firmware_id": fid}] == (
        listed["assignments"]
    )
    junk = home.parent / "junk.bin"
    junk.write_bytes(b"not firmware")
    out = runner.invoke(app, [*base, "firmware", "import", str(junk), "--json"])
    assert 65 == out.exit_code
    assert "not a firmware bundle" in json.loads(out.stdout)["message"]
