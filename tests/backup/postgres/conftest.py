"""Fixtures: a fleet home + repository the `postgres` user can use, and archiving clusters."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from pyrage import x25519

from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.postgres.tools import cluster_user, fleet_command
from fleet.backup.postgres.wal import WalArchive
from fleet.settings import Settings

FLEET_EXE = Path(sys.executable).parent / "fleet"


@dataclass
class Site:
    """A fleet home whose `[backup]` repository and identity the cluster user can reach."""

    root: Path
    home: Path
    repository: Path
    identity_file: Path
    recipient: str

    @property
    def settings(self) -> Settings:
        return Settings.load(self.home, environ={})

    @property
    def archive(self) -> WalArchive:
        return WalArchive.from_settings(self.settings)

    def fleet(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real `fleet` executable against this home."""
        return subprocess.run(
            [str(FLEET_EXE), "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def archive_command(self) -> str:
        return f"{fleet_command(self.home)} wal push %p"

    def restore_command(self) -> str:
        return f"{fleet_command(self.home)} wal fetch %f %p"


def make_site() -> Site:
    """A fresh home + repository + identity, owned by the cluster user (caller removes root)."""
    user = cluster_user()
    root = Path(tempfile.mkdtemp(prefix="fleet-d2-"))
    root.chmod(0o755)
    home = root / "home"
    repo = root / "repo"
    home.mkdir()
    repo.mkdir()
    identity = x25519.Identity.generate()
    ident_file = home / "backup.key"
    ident_file.write_text(f"# test identity\n{identity}\n", encoding="utf-8")
    ident_file.chmod(0o600)
    (home / "fleet.toml").write_text(
        tomli_w.dumps(
            {
                "backup": {
                    "repository": str(repo),
                    "recipients": [str(identity.to_public())],
                    "identity": str(ident_file),
                }
            }
        ),
        encoding="utf-8",
    )
    user.chown_tree(root)
    return Site(root, home, repo, ident_file, str(identity.to_public()))


@pytest.fixture
def site() -> Iterator[Site]:
    """A fresh home + repository + identity, owned by the cluster user, removed afterwards."""
    made = make_site()
    yield made
    shutil.rmtree(made.root, ignore_errors=True)


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., PgCluster]]:
    """Factory of started throwaway clusters; every one is stopped by PID and deleted."""
    made: list[PgCluster] = []

    def make(conf: dict[str, object] | None = None, start: bool = True) -> PgCluster:
        cluster = PgCluster.create(conf=conf)
        made.append(cluster)
        if start:
            cluster.start()
        return cluster

    yield make
    for cluster in made:
        cluster.destroy()


def archiving_conf(site: Site) -> dict[str, object]:
    """postgresql.conf lines that archive into `site` with the real `fleet wal push`."""
    return {"archive_mode": "on", "archive_command": site.archive_command(), "archive_timeout": 900}


@pytest.fixture
def archiving_cluster(site: Site, make_cluster: Callable[..., PgCluster]) -> PgCluster:
    """A started cluster whose archive_command is the real `fleet wal push`."""
    return make_cluster(archiving_conf(site))


def wait_archived(site: Site, name: str, timeout: float = 60.0) -> None:
    """Block until `name` is completely archived (the archiver retries on its own pace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if site.archive.lookup(name) is not None:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} was not archived within {timeout} s")


def switch_wal(cluster: PgCluster) -> str:
    """Force a WAL switch after some activity; the name of the segment that was closed."""
    rows = cluster.query("SELECT pg_walfile_name(pg_switch_wal())")
    return str(rows[0][0])
