"""`fleet backup check` against real clusters: a working archive and broken settings."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from fleet.backup.postgres.check import check_archiving, static_checks
from fleet.backup.postgres.cluster import PgCluster
from fleet.cli.backup_check import app

from .conftest import Site

pytestmark = pytest.mark.postgres


def test_working_archive_passes_and_the_switched_segment_arrives(
    site: Site, archiving_cluster: PgCluster
) -> None:
    """With fleet wal push as archive_command, every check passes and the segment is archived."""
    result = CliRunner().invoke(
        app, ["--dsn", archiving_cluster.url(), "--json"], env={"FLEET_HOME": str(site.home)}
    )

    assert 0 == result.exit_code, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert site.archive.lookup(report["segment"]) is not None


def test_archiving_off_is_reported_and_exits_non_zero(
    site: Site, make_cluster: Callable[..., PgCluster]
) -> None:
    """A cluster that does not archive fails the check, naming archive_mode and the command."""
    cluster = make_cluster({"archive_timeout": 0})

    report = check_archiving(cluster.url(), site.archive)
    result = CliRunner().invoke(
        app, ["--dsn", cluster.url()], env={"FLEET_HOME": str(site.home), "COLUMNS": "200"}
    )

    assert {"archive_mode", "archive_command", "archive_timeout", "segment arrives"} == {
        c.name for c in report.failures()
    }
    assert 74 == result.exit_code
    assert "archive_mode" in result.output


def test_archive_timeout_longer_than_the_seed_rpo_fails() -> None:
    """archive_timeout above 900 s (the seed's 15 minutes) is flagged; 900 passes."""
    base = {"archive_mode": "on", "archive_command": "fleet wal push %p", "wal_level": "replica"}
    slow = static_checks({**base, "archive_timeout": "3600"}, None)
    seed = static_checks({**base, "archive_timeout": "900"}, None)
    assert ["archive_timeout"] == [c.name for c in slow if not c.ok]
    assert [] == [c.name for c in seed if not c.ok]
