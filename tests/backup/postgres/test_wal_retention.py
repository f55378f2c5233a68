"""WAL retention on a real archive: only WAL older than the window and before every kept
base backup goes; a missing or zero window, or no kept base backup, deletes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.prune import prune_wal
from fleet.backup.repository import Repository
from fleet.backup.runner import run_backup
from fleet.backup.settings import RetentionSettings
from fleet.settings import Settings

from .conftest import Site, switch_wal, wait_archived

pytestmark = pytest.mark.postgres


def test_wal_before_kept_base_backup_goes_after_window(
    site: Site, archiving_cluster: PgCluster
) -> None:
    """Segments before the kept base backup go once past the window; later ones stay."""
    cluster = archiving_cluster
    cluster.query("CREATE TABLE t (x int)")
    early = []
    for _ in range(2):
        cluster.query("INSERT INTO t VALUES (1)")
        early.append(switch_wal(cluster))
        wait_archived(site, early[-1])
    settings = Settings.load(
        site.home,
        overrides={"layers": {"postgres": {"dsn": cluster.url(), "base_backup": True}}},
        environ={},
    )
    snap = run_backup(settings, only=["postgres"]).snapshot
    cluster.query("INSERT INTO t VALUES (2)")
    late = switch_wal(cluster)
    wait_archived(site, late)
    repo = Repository(site.repository)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    week = RetentionSettings(wal_days=7)

    assert [] == prune_wal(repo, RetentionSettings(wal_days=0), {snap}, now=later)
    assert [] == prune_wal(repo, RetentionSettings(wal_days=None), {snap}, now=later)
    assert [] == prune_wal(repo, week, set(), now=later)
    assert [] == prune_wal(repo, week, {snap})  # inside the window

    planned = prune_wal(repo, week, {snap}, dry_run=True, now=later)
    assert set(early) <= set(planned)
    assert late not in planned
    assert all(site.archive.lookup(n) is not None for n in early)  # dry run kept them

    deleted = prune_wal(repo, week, {snap}, now=later)
    assert planned == deleted
    assert all(site.archive.lookup(n) is None for n in early)
    assert site.archive.lookup(late) is not None
