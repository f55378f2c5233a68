"""`fleet nodes import --from-db` against a real throwaway PostgreSQL with a hydro-like schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet.backup.postgres.cluster import PgCluster, throwaway_cluster
from fleet.context import FleetContext
from fleet.settings import Settings

SCHEMA = """
CREATE TABLE greenhouses (id bigserial PRIMARY KEY, uid varchar(64) UNIQUE, name text);
CREATE TABLE zones (id bigserial PRIMARY KEY, greenhouse_id bigint REFERENCES greenhouses(id),
                    uid varchar(64), name text);
CREATE TABLE nodes (id bigserial PRIMARY KEY, zone_id bigint REFERENCES zones(id),
                    uid varchar(64) UNIQUE, name text, type varchar(32), fw_version text,
                    hardware_id varchar(32), status text, config jsonb,
                    last_seen_at timestamptz);
INSERT INTO greenhouses (uid, name) VALUES ('gh-1', 'Main');
INSERT INTO zones (greenhouse_id, uid, name) VALUES (1, 'zn-1', 'A'), (1, 'zn-2', 'B');
"""


@pytest.fixture(scope="module")
def hydro_db() -> Iterator[PgCluster]:
    with throwaway_cluster() as cluster:
        with cluster.connect() as conn:
            conn.execute("CREATE DATABASE hydro")
        with cluster.connect("hydro") as conn:
            conn.execute(SCHEMA)
            for i in range(20):
                conn.execute(
                    "INSERT INTO nodes (zone_id, uid, name, type, fw_version, hardware_id, config)"
                    " VALUES (%s, %s, %s, %s, '2.0.1', %s, %s)",
                    (
                        1 + i % 2,
                        f"nd-{i}",
                        f"Node {i}",
                        "irrigation" if i % 4 == 0 else "ph",
                        f"esp32-{i:012x}",
                        json.dumps({"node_secret": f"{i:064x}", "wifi": {"ssid": "x"}}),
                    ),
                )
        yield cluster


def test_import_from_hydro_database(home: Path, hydro_db: PgCluster, run_fleet: Any) -> None:
    """Nodes, zones, greenhouses and each node_secret (from nodes.config) come across."""
    r = run_fleet(home, "nodes", "import", "--from-db", hydro_db.url("hydro"), "--json")
    assert r.returncode == 0, r.stderr
    assert {k: v for k, v in json.loads(r.stdout).items() if k != "source"} == {
        "imported": 20,
        "secrets_given": 20,
        "secrets_generated": 0,
    }
    ctx = FleetContext.open(settings=Settings.load(home, environ={}))
    n0 = ctx.registry.get_node("nd-0")
    assert (
        n0.node_type,
        n0.zone_uid,
        n0.gh_uid,
        n0.hardware_id,
        n0.fw_version,
    ) == ("irrig", "zn-1", "gh-1", "esp32-000000000000", "2.0.1")
    assert f"{5:064x}" == ctx.vault.node_secret("nd-5")


def test_unreachable_database_error_has_no_password(
    home: Path, hydro_db: PgCluster, run_fleet: Any
) -> None:
    """A failed connection is a config error (exit 78) that does not echo the password."""
    url = f"postgresql://postgres:hunter2secret@127.0.0.1:{hydro_db.port}/nosuchdb"
    r = run_fleet(home, "nodes", "import", "--from-db", url)
    assert r.returncode == 78
    assert "hunter2secret" not in r.stderr + r.stdout
