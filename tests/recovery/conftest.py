"""Fixtures of the recovery tests: a small live site (its own PostgreSQL cluster, Laravel,
Python service, Mosquitto config, Docker volume folders) and the fleet home that backs it up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from fleet.backup.agecrypt import write_identity
from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.runner import run_backup
from fleet.context import FleetContext
from fleet.home import init_home
from fleet.recovery.steps import tree_facts
from fleet.registry.repo import NodeSpec
from fleet.settings import Settings

FLEET_EXE = Path(sys.executable).parent / "fleet"

SCHEMA = """
CREATE ROLE hydro_app LOGIN;
CREATE DATABASE hydro OWNER hydro_app TEMPLATE template0;
"""
HYDRO = """
CREATE TABLE greenhouses (id serial PRIMARY KEY, uid text UNIQUE NOT NULL, name text);
CREATE TABLE nodes (id serial PRIMARY KEY, uid text UNIQUE NOT NULL, gh_id int
  REFERENCES greenhouses(id), node_secret text NOT NULL);
CREATE TABLE telemetry (id bigserial PRIMARY KEY, node_id int REFERENCES nodes(id),
  metric text NOT NULL, value double precision, ts timestamptz NOT NULL);
CREATE INDEX telemetry_node_ts ON telemetry (node_id, ts);
INSERT INTO greenhouses (uid, name) VALUES ('gh-1', 'North'), ('gh-2', 'South');
INSERT INTO nodes (uid, gh_id, node_secret)
  SELECT 'nd-ph-' || i, 1 + i % 2, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 20) i;
INSERT INTO telemetry (node_id, metric, value, ts)
  SELECT 1 + i % 20, 'ph', 5.5 + (i % 10) / 10.0, '2026-11-01'::timestamptz + i * interval '1 min'
  FROM generate_series(1, 5000) i;
ALTER TABLE greenhouses OWNER TO hydro_app;
ALTER TABLE nodes OWNER TO hydro_app;
ALTER TABLE telemetry OWNER TO hydro_app;
"""


def write(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    """Create `path` with `data` and `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    return path


@dataclass
class DemoSite:
    """A live demo site and the fleet home that backs it up and recovers it."""

    home: Path
    root: Path
    cluster: PgCluster
    config: dict[str, Any]

    @property
    def settings(self) -> Settings:
        return Settings.load(self.home, environ={"FLEET_HOME": str(self.home)})

    def paths(self) -> dict[str, Path]:
        """The live site's folders (what a disaster deletes)."""
        return {
            "laravel": self.root / "laravel",
            "python": self.root / "python",
            "etc": self.root / "etc",
            "docker": self.root / "docker",
            "srv": self.root / "srv",
        }

    def files_state(self) -> dict[str, Any]:
        """Every live file: names, modes, bytes (SHA-256) and link targets."""
        return {k: tree_facts(p) for k, p in self.paths().items() if p.exists()}

    def db_state(self) -> dict[str, str]:
        """`pg_dump` (plain SQL) of the hydro database and the role list."""
        from fleet.backup.postgres.tools import find_tool

        dump = subprocess.run(
            [str(find_tool("pg_dump")), "-d", self.cluster.dsn("hydro")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        # pg_dump >= 15.14 brackets its output with a random \restrict key
        dump = "\n".join(
            ln for ln in dump.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict"))
        )
        roles = self.cluster.query("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles")
        return {"hydro": dump, "roles": str(roles[0][0])}

    def backup(self) -> str:
        """Take a snapshot of every layer; returns its id."""
        result = run_backup(self.settings)
        assert result.ok, result.errors
        return result.snapshot

    def destroy(self) -> None:
        """The disaster: drop the database and its role, delete every site folder."""
        import shutil

        self.cluster.query("DROP DATABASE hydro WITH (FORCE)")
        self.cluster.query("DROP ROLE hydro_app")
        for path in self.paths().values():
            shutil.rmtree(path)

    def fleet(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `fleet` executable against this home."""
        return subprocess.run(
            [str(FLEET_EXE), "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "FLEET_HOME": str(self.home), **(env or {})},
            timeout=300,
        )


def make_files(root: Path) -> dict[str, Any]:
    """The file layers' sources; returns their `[layers.*]` settings."""
    lar = root / "laravel"
    write(lar / ".env", "APP_KEY=base64:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\n", 0o600)
    write(lar / "composer.lock", '{"packages": []}\n')
    write(lar / "storage/app/ota/ph-1.2.0.bin", os.urandom(100_000))
    write(lar / "storage/app/public/logo.png", os.urandom(2048), 0o640)
    os.symlink("logo.png", lar / "storage/app/public/current.png")
    py = root / "python"
    write(py / ".env", "MQTT_PASSWORD=pw\n", 0o600)
    write(py / "secrets/nodes.json", '{"nd-ph-1": "x"}\n', 0o600)
    write(py / "config/config.yaml", "mqtt:\n  host: 127.0.0.1\n")
    etc = root / "etc/mosquitto"
    write(etc / "passwd", "node:$7$101$abc$def\n", 0o600)
    write(etc / "acl", "user node\ntopic readwrite hydro/#\n")
    write(etc / "conf.d/listener.conf", "listener 1883 127.0.0.1\n")
    conf = write(
        etc / "mosquitto.conf",
        f"persistence false\npassword_file {etc}/passwd\nacl_file {etc}/acl\n"
        f"include_dir {etc}/conf.d\n",
    )
    vols = root / "docker/volumes"
    write(vols / "uploads/_data/a.txt", "a\n")
    write(vols / "redis/_data/dump.rdb", os.urandom(4096), 0o600)
    write(root / "srv/docker-compose.yml", "services: {}\n")
    return {
        "laravel": {"root": str(lar)},
        "python_service": {"root": str(py)},
        "mosquitto": {"config": str(conf)},
        "docker": {
            "volumes": ["uploads", "redis"],
            "volume_root": str(vols),
            "compose": str(root / "srv/docker-compose.yml"),
        },
    }


def populate_fleet(settings: Settings, tmp: Path) -> None:
    """Give the fleet home what a drill checks: escrowed NVS images and a firmware bundle."""
    from fleet.firmware.store import FirmwareStore
    from fleet.nvs import site
    from fleet.nvs.escrow import build_all
    from fleet.registry.importing import ImportRow, import_rows
    from fleet.sim.firmware_gen import write_bundle

    ctx = FleetContext.open(settings=settings)
    for key, value in (
        ("wifi.ssid", "hydro-net"),
        ("wifi.pass", "wifi-pass-7f3a"),
        ("mqtt.host", "192.168.1.10"),
        ("mqtt.port", "1883"),
        ("mqtt.username", "node"),
        ("mqtt.password", "mqtt-pass-c41d"),
    ):
        site.set_value(ctx, key, value)
    rows = [
        ImportRow(NodeSpec(uid=f"nd-ec-{i}", gh_uid="gh-1", zone_uid="zn-1", node_type="ec"), None)
        for i in (1, 2, 3)
    ]
    import_rows(ctx.registry, ctx.vault, rows, "test")
    nodes = [ctx.registry.get_node(r.spec.uid) for r in rows]
    assert build_all(ctx, nodes=nodes).failures == []
    FirmwareStore(ctx.registry, ctx.home).import_bundle(write_bundle(tmp / "bundle").path)
    ctx.registry.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FLEET_"):
            monkeypatch.delenv(name)


@pytest.fixture
def demo_site(tmp_path: Path) -> Iterator[DemoSite]:
    """A live site with its PostgreSQL cluster running; the cluster is stopped by PID after."""
    home = tmp_path / "home"
    root = tmp_path / "site"
    identity = tmp_path / "offline" / "backup.key"
    recipient = write_identity(identity)
    layers = make_files(root)
    cluster = PgCluster.create()
    try:
        cluster.start()
        cluster.query(SCHEMA.split(";")[0])
        cluster.query(SCHEMA.split(";")[1])
        with cluster.connect("hydro") as conn:
            conn.execute(HYDRO.encode())
        config = {
            "backup": {
                "repository": str(tmp_path / "repo"),
                "recipients": [recipient],
                "identity": str(identity),
            },
            "layers": {**layers, "postgres": {"dsn": cluster.url()}},
        }
        home.mkdir()
        (home / "fleet.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
        settings = Settings.load(home, environ={"FLEET_HOME": str(home)})
        init_home(settings)
        ctx = FleetContext.open(settings=settings)
        for i in (1, 2):
            ctx.registry.add_node(NodeSpec(uid=f"nd-ph-{i}", gh_uid="gh-1", zone_uid="zn-1"))
        yield DemoSite(home, root, cluster, config)
    finally:
        cluster.destroy()
