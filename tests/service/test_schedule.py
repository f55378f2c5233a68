"""Scheduled backups and drills: due only when the interval has passed, run for real."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fleet.backup.agecrypt import write_identity
from fleet.backup.demo_site import make_demo_site
from fleet.backup.prune import snapshot_infos
from fleet.backup.repository import Repository
from fleet.home import init_home
from fleet.recovery.drill import last_drill
from fleet.service.schedule import Scheduler, due
from fleet.settings import Settings, write_file_setting

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_due_rules() -> None:
    """Never run: due. Inside the interval: not. A failed attempt waits for the retry delay."""
    assert due(None, DAY, T0)
    assert not due(T0, DAY, T0 + dt.timedelta(hours=23))
    assert due(T0, DAY, T0 + DAY)
    assert not due(T0, None, T0 + 100 * DAY)
    failed_at = T0 + DAY
    retry = dt.timedelta(hours=1)
    assert not due(T0, DAY, failed_at + dt.timedelta(minutes=30), failed_at, retry)
    assert due(T0, DAY, failed_at + retry, failed_at, retry)


def _site(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    settings = Settings.load(home, environ={})
    init_home(settings)
    layers = make_demo_site(tmp_path / "site", ota_kib=16)
    recipient = write_identity(tmp_path / "offline" / "id.txt")
    write_file_setting(home, "backup.repository", str(tmp_path / "repo"))
    write_file_setting(home, "backup.recipients", [recipient])
    write_file_setting(home, "backup.identity", str(tmp_path / "offline" / "id.txt"))
    write_file_setting(home, "layers.laravel", layers["laravel"])
    write_file_setting(home, "layers.mosquitto", layers["mosquitto"])
    settings.reload()
    return settings


def test_unconfigured_backup_runs_nothing(tmp_path: Path) -> None:
    """Without a repository the scheduler does nothing (and says so once)."""
    settings = Settings.load(tmp_path / "home", environ={})
    init_home(settings)
    assert [] == Scheduler(settings).tick(T0)


@pytest.mark.timeout(120)
def test_backup_and_drill_run_when_due_and_not_again(tmp_path: Path) -> None:
    """First tick: a verified snapshot and a passing drill; a tick soon after runs nothing;
    a day later only the backup is due again."""
    settings = _site(tmp_path)
    sched = Scheduler(settings)
    now = dt.datetime.now(dt.UTC)
    assert ["backup", "drill"] == sched.tick(now)
    repo = Repository(tmp_path / "repo")
    assert 1 == len(snapshot_infos(repo))
    drill = last_drill(settings)
    assert drill is not None and drill.ok
    assert 1.0 == sched.gauges()["drill_last_ok"]
    assert "backup_newest_good_age_seconds" in sched.gauges()
    assert [] == Scheduler(settings).tick(now + dt.timedelta(hours=1))
    assert ["backup"] == Scheduler(settings).tick(now + DAY + dt.timedelta(minutes=1))
    assert 2 == len(snapshot_infos(repo))
