"""Point-in-time recovery from a real base backup and the real WAL archive."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator

import pytest
from pyrage import x25519

from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.postgres.pitr import (
    PitrResult,
    RecoveryTarget,
    parse_target,
    restore_pitr,
    restore_pitr_from_settings,
)
from fleet.backup.repository import Repository
from fleet.backup.runner import run_backup
from fleet.errors import Conflict, UsageError
from fleet.settings import Settings

from .conftest import Site, archiving_conf, make_site, switch_wal, wait_archived

pytestmark = pytest.mark.postgres


def _now(cluster: PgCluster) -> dt.datetime:
    value = cluster.query("SELECT clock_timestamp()")[0][0]
    assert isinstance(value, dt.datetime)
    return value


def _commit(cluster: PgCluster, label: str) -> None:
    cluster.query(f"INSERT INTO readings (label) VALUES ('{label}')", dbname="hydro")


def _switch(site: Site, cluster: PgCluster) -> None:
    wait_archived(site, switch_wal(cluster))


def _base_backup(site: Site, cluster: PgCluster) -> str:
    settings = Settings.load(
        site.home,
        overrides={"layers": {"postgres": {"dsn": cluster.url(), "base_backup": True}}},
        environ={},
    )
    result = run_backup(settings, only=["postgres"])
    assert {} == result.errors
    return result.snapshot


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """One home + repository for the whole module (the history is built once)."""
    made = make_site()
    yield made
    shutil.rmtree(made.root, ignore_errors=True)


@pytest.fixture(scope="module")
def history(site: Site) -> Iterator[dict[str, object]]:
    """Rows committed at known times around two base backups, each step in its own segment.

    before-base | base S1 | one | two | <target between> | three | base S2 | four
    """
    with PgCluster.create(conf=archiving_conf(site)) as c:
        c.start()
        yield _build_history(site, c)


def _build_history(site: Site, c: PgCluster) -> dict[str, object]:
    c.query("CREATE DATABASE hydro")
    c.query("CREATE TABLE readings (label text, at timestamptz DEFAULT clock_timestamp())", "hydro")
    _commit(c, "before-base")
    _switch(site, c)
    before_base = _now(c)
    first = _base_backup(site, c)
    marks: dict[str, object] = {"first": first, "before_base": before_base}
    _commit(c, "one")
    _switch(site, c)
    _commit(c, "two")
    marks["after_two_lsn"] = str(c.query("SELECT pg_current_wal_lsn()")[0][0])
    _switch(site, c)
    after_two = _now(c)
    time.sleep(1.0)  # gives the target its own moment between two commits
    before_three = _now(c)
    _commit(c, "three")
    _switch(site, c)
    marks["between"] = after_two + (before_three - after_two) / 2
    marks["second"] = _base_backup(site, c)
    _commit(c, "four")
    _switch(site, c)
    return marks


def _recover(
    site: Site, target: RecoveryTarget, snapshot: str | None = None, prefetch: int = 64
) -> PitrResult:
    result = restore_pitr_from_settings(site.settings, target, snapshot, prefetch=prefetch)
    rows = result.cluster.query("SELECT label FROM readings ORDER BY at", dbname="hydro")
    result.cluster.destroy()
    result.detail = {"rows": [str(r[0]) for r in rows]}
    return result


def test_recover_to_time_between_commits_gives_exactly_earlier_rows(
    site: Site, history: dict[str, object]
) -> None:
    """Recovery to a moment between two commits holds exactly the rows committed before it,
    from the base backup before that moment even when a newer snapshot is named."""
    target = RecoveryTarget(time=history["between"])  # type: ignore[arg-type]

    result = _recover(site, target, snapshot=str(history["second"]))

    assert ["before-base", "one", "two"] == result.detail["rows"]
    assert history["first"] == result.base_snapshot
    assert 2 == result.timeline


def test_recover_to_lsn_stops_there(site: Site, history: dict[str, object]) -> None:
    """Recovery to the LSN just after a commit holds that commit and nothing later; an
    identity given only on the command line reaches PostgreSQL's restore_command."""
    toml = site.home / "fleet.toml"
    saved = toml.read_text()
    toml.write_text("\n".join(ln for ln in saved.splitlines() if not ln.startswith("identity")))
    settings = Settings.load(
        site.home, overrides={"backup": {"identity": str(site.identity_file)}}, environ={}
    )
    try:
        target = RecoveryTarget(lsn=str(history["after_two_lsn"]))
        result = restore_pitr_from_settings(settings, target, prefetch=0)
    finally:
        toml.write_text(saved)
    rows = result.cluster.query("SELECT label FROM readings ORDER BY at", dbname="hydro")
    result.cluster.destroy()
    assert ["before-base", "one", "two"] == [str(r[0]) for r in rows]
    assert history["first"] == result.base_snapshot


def test_non_empty_data_folder_is_refused(site: Site, history: dict[str, object]) -> None:
    """A data folder that already holds files is refused and left as it was."""
    identity = x25519.Identity.from_str(site.identity_file.read_text().split()[-1])
    folder = site.root / "occupied"
    folder.mkdir()
    (folder / "PG_VERSION").write_text("15\n")
    with pytest.raises(Conflict):
        restore_pitr(
            Repository(site.repository),
            site.archive,
            identity,
            site.home,
            RecoveryTarget(),
            data_dir=folder,
        )
    assert ["PG_VERSION"] == [p.name for p in folder.iterdir()]


def test_recover_to_latest_replays_the_whole_archive(
    site: Site, history: dict[str, object]
) -> None:
    """--to-latest from the newest base backup ends with every archived commit, every
    segment fetched by PostgreSQL itself through `fleet wal fetch` (no prefetch)."""
    result = _recover(site, RecoveryTarget(), prefetch=0)
    assert ["before-base", "one", "two", "three", "four"] == result.detail["rows"]
    assert history["second"] == result.base_snapshot


def test_targets_the_archive_cannot_reach_are_refused(
    site: Site, history: dict[str, object]
) -> None:
    """Before the first base backup, past the archive, or behind a WAL gap: refused with why."""
    identity = x25519.Identity.from_str(site.identity_file.read_text().split()[-1])
    repo = Repository(site.repository)

    def attempt(target: RecoveryTarget) -> str:
        with pytest.raises(UsageError) as refused:
            restore_pitr(repo, site.archive, identity, site.home, target)
        return refused.value.message

    assert "before the oldest base backup" in attempt(
        RecoveryTarget(time=history["before_base"])  # type: ignore[arg-type]
    )
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert "past the newest archived WAL" in attempt(RecoveryTarget(time=future))

    segments = [f.name for f in site.archive.segments()]
    hole = segments[-2]
    mark = site.archive.mark_path(hole)
    mark.rename(mark.with_suffix(".hidden"))
    try:
        message = attempt(RecoveryTarget(time=dt.datetime.now(dt.UTC)))
    finally:
        mark.with_suffix(".hidden").rename(mark)
    assert f"segment {hole} is missing" in message


def test_cli_style_targets_parse_or_are_refused() -> None:
    """--to-time/--to-lsn/--to-latest: exactly one, times need a zone, LSNs their form."""
    when = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
    assert RecoveryTarget(time=when) == parse_target(to_time="2026-11-27T10:00:00Z")
    assert RecoveryTarget(lsn="0/3000028") == parse_target(to_lsn="0/3000028")
    assert RecoveryTarget() == parse_target(to_latest=True)
    for bad in (
        {},
        {"to_time": "2026-11-27T10:00:00Z", "to_latest": True},
        {"to_time": "2026-11-27T10:00:00"},
        {"to_time": "yesterday"},
        {"to_lsn": "3000028"},
    ):
        with pytest.raises(UsageError):
            parse_target(**bad)  # type: ignore[arg-type]
