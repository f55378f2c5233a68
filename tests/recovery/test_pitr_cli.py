"""`fleet restore --layer postgres --to-time`: a real archiving cluster, recovered by the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from pyrage import x25519

from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.postgres.tools import cluster_user, fleet_command
from fleet.backup.postgres.wal import WalArchive
from fleet.backup.runner import run_backup
from fleet.settings import Settings

from .conftest import FLEET_EXE


@pytest.fixture
def home() -> Iterator[Path]:
    """A home + repository + identity the `postgres` user can read (it runs `fleet wal`)."""
    root = Path(tempfile.mkdtemp(prefix="fleet-e-pitr-"))
    root.chmod(0o755)
    home = root / "home"
    home.mkdir()
    identity = x25519.Identity.generate()
    (home / "backup.key").write_text(f"{identity}\n", encoding="utf-8")
    (home / "backup.key").chmod(0o600)
    conf = {
        "backup": {
            "repository": str(root / "repo"),
            "recipients": [str(identity.to_public())],
            "identity": str(home / "backup.key"),
        }
    }
    (home / "fleet.toml").write_text(tomli_w.dumps(conf), encoding="utf-8")
    (root / "repo").mkdir()
    cluster_user().chown_tree(root)
    yield home
    shutil.rmtree(root, ignore_errors=True)


def _switch(cluster: PgCluster, home: Path) -> None:
    name = str(cluster.query("SELECT pg_walfile_name(pg_switch_wal())")[0][0])
    archive = WalArchive.from_settings(Settings.load(home, environ={}))
    deadline = time.monotonic() + 60
    while archive.lookup(name) is None:
        assert time.monotonic() < deadline, f"{name} was not archived"
        time.sleep(0.1)


def test_restore_to_time_brings_back_exactly_the_earlier_rows(home: Path) -> None:
    """Rows committed before the target time are there, the row after it is not."""
    conf = {
        "archive_mode": "on",
        "archive_command": f"{fleet_command(home)} wal push %p",
        "archive_timeout": 900,
    }
    with PgCluster.create(conf=conf) as live:
        live.start()
        live.query("CREATE DATABASE hydro")
        live.query("CREATE TABLE r (label text)", "hydro")
        live.query("INSERT INTO r VALUES ('one')", "hydro")
        settings = Settings.load(
            home,
            overrides={"layers": {"postgres": {"dsn": live.url(), "base_backup": True}}},
            environ={},
        )
        assert {} == run_backup(settings, only=["postgres"]).errors
        live.query("INSERT INTO r VALUES ('two')", "hydro")
        _switch(live, home)
        time.sleep(1.0)
        target = live.query("SELECT clock_timestamp()")[0][0]
        assert isinstance(target, dt.datetime)
        time.sleep(1.0)
        live.query("INSERT INTO r VALUES ('three')", "hydro")
        _switch(live, home)
    data = home.parent / "recovered"
    argv = [str(FLEET_EXE), "--home", str(home), "restore", "--layer", "postgres"]
    run = subprocess.run(
        [*argv, "--to-time", target.isoformat(), "--target", str(data), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert 0 == run.returncode, run.stdout + run.stderr
    out = json.loads(run.stdout)
    try:
        recovered = PgCluster.adopt(home.parent, port=int(out["port"]))
        rows = recovered.query("SELECT label FROM r ORDER BY label", "hydro")
        assert ["one", "two"] == [str(r[0]) for r in rows]
    finally:
        os.kill(int(out["pid"]), signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(int(out["pid"]), 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
