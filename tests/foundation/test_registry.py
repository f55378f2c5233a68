"""The registry: migrations from empty, node CRUD, validation at the edge, audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from fleet.errors import Conflict, NodeNotFound, ValidationError
from fleet.registry import NodeSpec, Registry
from fleet.registry.db import is_initialized, make_engine, migrate


def test_migrations_build_schema_from_empty(tmp_path: Path) -> None:
    """An empty SQLite file is migrated to every table; migrating again is a no-op."""
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    assert not is_initialized(engine)
    migrate(engine)
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"nodes", "audit_log", "vault_records", "vault_keys", "candidates"} <= tables
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_node_crud_and_audit(tmp_path: Path) -> None:
    """Add, read, find by hardware_id, update and list nodes; each change is audited."""
    reg = Registry.open(f"sqlite:///{tmp_path / 'r.db'}")
    reg.add_node(
        NodeSpec(
            uid="nd-ph-1", gh_uid="gh-1", zone_uid="zn-1", node_type="ph", mac="AA-BB-CC-DD-EE-01"
        )
    )
    node = reg.get_node("nd-ph-1")
    assert node.hardware_id == "esp32-aabbccddee01"
    assert node.mac == "aa:bb:cc:dd:ee:01"
    assert reg.find_by_hardware_id("esp32-aabbccddee01").uid == "nd-ph-1"  # type: ignore[union-attr]
    reg.update_node("nd-ph-1", audit="node.update", fw_version="1.2.3")
    assert reg.get_node("nd-ph-1").fw_version == "1.2.3"
    assert [n.uid for n in reg.list_nodes(zone="zn-1")] == ["nd-ph-1"]
    assert reg.list_nodes(zone="zn-2") == []
    actions = [r["action"] for r in reg.audit_log(node_uid="nd-ph-1")]
    assert actions == ["node.update", "node.add"]
    with pytest.raises(NodeNotFound, match="nd-ph-9"):
        reg.get_node("nd-ph-9")


def test_duplicates_refused_and_nothing_half_added(tmp_path: Path) -> None:
    """A duplicate uid or hardware_id in a batch adds none of the batch."""
    reg = Registry.open(f"sqlite:///{tmp_path / 'r.db'}")
    reg.add_node(
        NodeSpec(uid="nd-1", gh_uid="gh-1", zone_uid="zn-1", hardware_id="esp32-000000000001")
    )
    batch = [
        NodeSpec(uid="nd-2", gh_uid="gh-1", zone_uid="zn-1"),
        NodeSpec(uid="nd-3", gh_uid="gh-1", zone_uid="zn-1", hardware_id="esp32-000000000001"),
    ]
    with pytest.raises(Conflict, match="esp32-000000000001"):
        reg.add_nodes(batch)
    assert [n.uid for n in reg.list_nodes()] == ["nd-1"]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("uid", "Nd/1", "node_uid"),
        ("hardware_id", "esp32-AABBCCDDEEFF", "hardware_id"),
        ("hardware_id", "esp8266-aabbccddeeff", "hardware_id"),
        ("mac", "aa:bb:cc", "MAC"),
        ("node_type", "toaster", "node type"),
        ("chip", "esp8266", "chip"),
        ("zone_uid", "zn 1", "zone_uid"),
    ],
)
def test_bad_formats_refused_with_the_field_named(field: str, value: str, named: str) -> None:
    """Malformed identifiers are refused at the edge with a message naming the field."""
    args = {"uid": "nd-1", "gh_uid": "gh-1", "zone_uid": "zn-1", field: value}
    with pytest.raises(ValidationError, match=named):
        NodeSpec(**args)


def test_mac_and_hardware_id_must_agree() -> None:
    """A MAC that is not the hardware_id's is refused."""
    with pytest.raises(ValidationError, match="does not match"):
        NodeSpec(
            uid="nd-1",
            gh_uid="gh-1",
            zone_uid="zn-1",
            hardware_id="esp32-aabbccddeeff",
            mac="aa:bb:cc:dd:ee:00",
        )


def test_candidates_recorded_once(tmp_path: Path) -> None:
    """An unregistered hardware_id is recorded once and its last-seen time refreshed."""
    reg = Registry.open(f"sqlite:///{tmp_path / 'r.db'}")
    assert reg.note_candidate("esp32-aaaaaaaaaaaa", "ph", "1.0")
    assert not reg.note_candidate("esp32-aaaaaaaaaaaa")
    cands = reg.candidates()
    assert [c["hardware_id"] for c in cands] == ["esp32-aaaaaaaaaaaa"]
    assert cands[0]["node_type"] == "ph"
