"""The postgres layer: snapshot a real cluster, restore with stock tools and with the layer."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.backup.layer import RestoreOptions
from fleet.backup.layers.postgres import PostgresLayer, PostgresSettings
from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.postgres.tools import find_tool
from fleet.backup.repository import Repository
from fleet.backup.runner import layer_env, run_backup
from fleet.backup.settings import backup_settings
from fleet.errors import Conflict
from fleet.settings import Settings

from .conftest import Site

pytestmark = pytest.mark.postgres

HYDRO_SCHEMA = """
CREATE ROLE hydro_app LOGIN PASSWORD 'not-a-real-secret';
CREATE DATABASE hydro OWNER hydro_app;
"""
HYDRO_DATA = """
CREATE TABLE nodes (id serial PRIMARY KEY, uid text UNIQUE NOT NULL, hardware_id text);
CREATE TABLE telemetry (id bigserial PRIMARY KEY, node_id int REFERENCES nodes(id),
                        metric text, value double precision, ts timestamptz DEFAULT now());
INSERT INTO nodes (uid, hardware_id) VALUES ('nd-ph-1', 'esp32-aabbccddeeff'),
                                            ('nd-ec-1', 'esp32-001122334455');
INSERT INTO telemetry (node_id, metric, value)
  SELECT 1 + g % 2, 'ph', g / 100.0 FROM generate_series(1, 5000) g;
GRANT SELECT ON nodes TO hydro_app;
"""


def _seed(cluster: PgCluster) -> None:
    for stmt in HYDRO_SCHEMA.strip().splitlines():
        cluster.query(stmt)
    cluster.query(HYDRO_DATA, dbname="hydro")
    cluster.query("CREATE TABLE notes (t text); INSERT INTO notes VALUES ('keep me')")


def _plain_dump(cluster: PgCluster, db: str) -> str:
    out = subprocess.run(
        [str(find_tool("pg_dump", 15)), "--no-password", "-d", cluster.dsn(db)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # `-- Dumped from/by` and the random \\restrict key differ between any two dumps
    volatile = ("-- Dumped", "\\restrict", "\\unrestrict")
    return "\n".join(ln for ln in out.splitlines() if not ln.startswith(volatile))


def _settings(site: Site, cluster: PgCluster, **extra: object) -> Settings:
    return Settings.load(
        site.home, overrides={"layers": {"postgres": {"dsn": cluster.url(), **extra}}}, environ={}
    )


def _snapshot(site: Site, cluster: PgCluster) -> tuple[Repository, str]:
    result = run_backup(_settings(site, cluster), only=["postgres"])
    assert {} == result.errors
    return Repository(site.repository), result.snapshot


def test_snapshot_restores_with_stock_age_and_pg_restore(
    site: Site, make_cluster: Callable[..., PgCluster]
) -> None:
    """age -d | pg_restore (no fleet) rebuilds each database; dumps compare equal."""
    source = make_cluster()
    _seed(source)
    repo, sid = _snapshot(site, source)
    manifest = repo.manifest(sid)
    by_name = {a.name: a for a in manifest.artifacts}
    assert {"globals.sql", "db.hydro.dump", "schema.hydro.sql", "db.postgres.dump"} <= set(by_name)
    assert {"public.nodes": 2, "public.telemetry": 5000} == by_name["db.hydro.dump"].meta[
        "row_counts"
    ]

    fresh = make_cluster()
    folder = repo.snapshot_dir(sid)
    age = f"age -d -i {site.identity_file}"
    steps = [
        f"{age} {folder / by_name['globals.sql'].file} | psql -X -q -d '{fresh.dsn()}'",
        f"{age} {folder / by_name['db.hydro.dump'].file} | "
        f"{find_tool('pg_restore', 15)} --create -d '{fresh.dsn('template1')}'",
    ]
    for step in steps:
        subprocess.run(["sh", "-c", step], check=True, capture_output=True)

    assert _plain_dump(source, "hydro") == _plain_dump(fresh, "hydro")
    assert [("hydro_app",)] == fresh.query(
        "SELECT rolname FROM pg_roles WHERE rolname = 'hydro_app'"
    )


def test_layer_restore_puts_roles_then_databases_back(
    site: Site, make_cluster: Callable[..., PgCluster]
) -> None:
    """The layer's restore recreates roles and every database in a fresh cluster, equal dumps."""
    source = make_cluster()
    _seed(source)
    repo, sid = _snapshot(site, source)
    fresh = make_cluster()
    settings = _settings(site, source)
    layer = PostgresLayer(
        PostgresSettings(dsn=source.url()), layer_env(settings, backup_settings(settings))
    )
    from pyrage import x25519

    identity = x25519.Identity.from_str(site.identity_file.read_text().split()[-1])

    result = layer.restore(
        repo.stored_artifacts(sid, "postgres", identity),
        RestoreOptions(target=Path("/nonexistent"), params={"dsn": fresh.url()}),
    )

    assert {"hydro", "postgres"} == {d["database"] for d in result.detail["databases"]}
    assert _plain_dump(source, "hydro") == _plain_dump(fresh, "hydro")
    assert _plain_dump(source, "postgres") == _plain_dump(fresh, "postgres")
    assert [(True,)] == fresh.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'hydro_app'")


def test_restore_refuses_non_empty_database_unless_moved_aside(
    site: Site, make_cluster: Callable[..., PgCluster]
) -> None:
    """A database holding data is refused; with move_aside it is renamed, never dropped."""
    source = make_cluster()
    _seed(source)
    repo, sid = _snapshot(site, source)
    source.query("INSERT INTO nodes (uid) VALUES ('nd-new-1')", dbname="hydro")
    settings = _settings(site, source)
    layer = PostgresLayer(
        PostgresSettings(dsn=source.url()), layer_env(settings, backup_settings(settings))
    )
    from pyrage import x25519

    identity = x25519.Identity.from_str(site.identity_file.read_text().split()[-1])
    arts = repo.stored_artifacts(sid, "postgres", identity)
    params = {"dsn": source.url(), "databases": ["hydro"]}

    with pytest.raises(Conflict) as refused:
        layer.restore(arts, RestoreOptions(target=Path("/x"), params=params))
    assert "hydro" in refused.value.message
    assert [(3,)] == source.query("SELECT count(*) FROM nodes", dbname="hydro")

    result = layer.restore(arts, RestoreOptions(target=Path("/x"), move_aside=True, params=params))
    aside = result.detail["databases"][0]["moved_aside"]
    assert [(2,)] == source.query("SELECT count(*) FROM nodes", dbname="hydro")
    assert [(3,)] == source.query("SELECT count(*) FROM nodes", dbname=aside)


def test_unreachable_server_is_a_named_missing_prerequisite(site: Site) -> None:
    """No server at the DSN: the layer refuses up front naming the layer and the server."""
    from fleet.backup.postgres.cluster import free_port
    from fleet.errors import MissingPrerequisite

    port = free_port()
    url = f"postgresql://postgres:pw-not-shown@127.0.0.1:{port}/postgres"
    settings = Settings.load(site.home, environ={})
    layer = PostgresLayer(PostgresSettings(dsn=url), layer_env(settings, backup_settings(settings)))

    with pytest.raises(MissingPrerequisite) as missing:
        layer.prerequisites()

    assert f"layer postgres: cannot connect to postgresql://postgres@127.0.0.1:{port}/postgres" in (
        missing.value.message
    )
    assert "pw-not-shown" not in missing.value.message
