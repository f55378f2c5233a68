"""Drills: restore into scratch space, every health check, and the live site left untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fleet.recovery.drill import last_drill, run_drill

from .conftest import DemoSite, populate_fleet


def _read_only(root: Path) -> None:
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)


def test_drill_checks_everything_and_never_touches_the_live_site(
    demo_site: DemoSite, tmp_path: Path
) -> None:
    """A drill passes every check on a good snapshot, live files and database stay unchanged,
    and `fleet status` reports it with the backup facts."""
    populate_fleet(demo_site.settings, tmp_path)
    demo_site.backup()
    _read_only(demo_site.root)
    files, db = demo_site.files_state(), demo_site.db_state()
    run = demo_site.fleet("drill", "--json")
    assert 0 == run.returncode, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert [] == [c for c in report["checks"] if not c["ok"]]
    names = {c["name"] for c in report["checks"]}
    assert {
        "postgres: roles",
        "postgres: database hydro row counts",
        "mosquitto: config starts a broker",
        "escrow: NVS images",
        "firmware: bundles",
        "laravel: files SHA-256",
        "docker: files SHA-256",
    } <= names
    escrow = next(c for c in report["checks"] if c["name"] == "escrow: NVS images")
    assert "3 images parse and verify" == escrow["detail"]
    assert files == demo_site.files_state()
    assert db == demo_site.db_state()
    assert report["snapshot"] == last_drill(demo_site.settings).snapshot  # type: ignore[union-attr]
    status = demo_site.fleet("status", "--json")
    facts = {f["name"]: f for f in json.loads(status.stdout)["facts"]}
    assert 1 == status.returncode  # no WAL archived in this demo: PITR impossible
    assert {
        "newest full backup": True,
        "newest archived WAL": False,
        "retention in force": True,
        "last drill": True,
        "secrets covered": True,
        "OTA files covered": True,
        "broker ACL/passwd covered": True,
        "Docker volumes covered": True,
        "Python secrets covered": True,
        ".env files covered": True,
    } == {k: v["ok"] for k, v in facts.items()}
    assert "1 files in" in facts["OTA files covered"]["value"]
    assert "passwd, acl in" in facts["broker ACL/passwd covered"]["value"]


def test_drill_fails_when_the_broker_config_does_not_start(demo_site: DemoSite) -> None:
    """A broker config naming a bad option fails the drill's broker check, naming it."""
    conf = Path(demo_site.config["layers"]["mosquitto"]["config"])
    conf.write_text(conf.read_text() + "no_such_option true\n")
    demo_site.backup()
    report = run_drill(demo_site.settings)
    broker = next(c for c in report.checks if c.name == "mosquitto: config starts a broker")
    assert (False, False) == (report.ok, broker.ok)
    assert "no_such_option" in broker.detail
