"""Whole-site recovery on a demo site: round trip, resume after a kill at every step."""

from __future__ import annotations

import json
import shutil
import signal

from fleet.context import FleetContext
from fleet.recovery.plan import step_names

from .conftest import DemoSite


def test_recover_site_round_trip(demo_site: DemoSite) -> None:
    """Back up, destroy (drop database and role, delete folders, the registry and vault key),
    recover: the site and the registry are back; without --yes (no terminal) nothing starts;
    a second run changes nothing."""
    files, db = demo_site.files_state(), demo_site.db_state()
    demo_site.backup()
    demo_site.destroy()
    for name in ("registry.sqlite3", "vault.key"):  # the whole server: fleet.toml alone left
        (demo_site.home / name).unlink()
    refused = demo_site.fleet("recover", "site")
    assert 2 == refused.returncode
    assert not (demo_site.root / "laravel").exists()
    done = demo_site.fleet("recover", "site", "--yes", "--json")
    assert 0 == done.returncode, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert {
        "fleet",
        "infrastructure",
        "postgres",
        "laravel",
        "python_service",
        "mosquitto",
        "station",
    } == {s["name"] for s in report["steps"] if s["state"] == "done"}
    assert files == demo_site.files_state()
    assert db == demo_site.db_state()
    registry = FleetContext.open(settings=demo_site.settings).registry
    assert ["nd-ph-1", "nd-ph-2"] == [n.uid for n in registry.list_nodes()]
    assert ["ok"] == [r["outcome"] for r in registry.audit_log(action="site.recover")]
    again = demo_site.fleet("recover", "site", "--yes", "--json")
    assert 0 == again.returncode, again.stderr
    assert [1] * 8 == [max(s["attempts"], 1) for s in json.loads(again.stdout)["steps"]]
    assert files == demo_site.files_state()


def test_recover_site_resumes_after_a_kill_in_every_step(demo_site: DemoSite) -> None:
    """SIGKILL `fleet recover site` inside each step in turn; re-runs finish, site equal, and
    a snapshot taken meanwhile does not replace the one being recovered."""
    files, db = demo_site.files_state(), demo_site.db_state()
    first = demo_site.backup()
    demo_site.destroy()
    crashed = [n for n in step_names() if n != "reboot"]  # reboot: skipped, no service runs
    for step in crashed:
        run = demo_site.fleet(
            "recover", "site", "--yes", "--json", env={"FLEET_TEST_CRASH_AT": step}
        )
        assert -signal.SIGKILL == run.returncode, (step, run.stdout + run.stderr)
    assert first != demo_site.backup()  # a scheduled backup while the recovery is cut short
    done = demo_site.fleet("recover", "site", "--yes", "--json")
    assert 0 == done.returncode, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert first == report["snapshot"]  # `latest` resumes the cut recovery, not the new one
    assert {s: 2 for s in crashed} == {
        s["name"]: s["attempts"] for s in report["steps"] if s["name"] in crashed
    }
    assert files == demo_site.files_state()
    assert db == demo_site.db_state()


def test_recover_site_moves_differing_files_and_databases_aside(demo_site: DemoSite) -> None:
    """Content changed after the snapshot is moved aside once, even across a kill in the
    PostgreSQL step: the changed file and database are kept, the snapshot's are in place."""
    db = demo_site.db_state()
    demo_site.backup()
    env = demo_site.root / "laravel" / ".env"
    env.write_text("APP_KEY=changed\n")
    demo_site.cluster.query("INSERT INTO greenhouses (uid) VALUES ('gh-new')", "hydro")
    killed = demo_site.fleet("recover", "site", "--yes", env={"FLEET_TEST_CRASH_AT": "postgres"})
    assert -signal.SIGKILL == killed.returncode, killed.stdout + killed.stderr
    done = demo_site.fleet("recover", "site", "--yes", "--json")
    assert 0 == done.returncode, done.stdout + done.stderr
    asides = sorted(env.parent.glob(".env.before-restore-*"))
    assert ["APP_KEY=changed\n"] == [p.read_text() for p in asides]
    assert env.read_text().startswith("APP_KEY=base64:")
    assert db == demo_site.db_state()
    names = demo_site.cluster.query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'hydro_before_restore_%'"
    )
    assert 1 == len(names)
    kept = demo_site.cluster.query("SELECT uid FROM greenhouses ORDER BY id", str(names[0][0]))
    assert ["gh-1", "gh-2", "gh-new"] == [str(r[0]) for r in kept]


def test_recover_only_the_broker_leaves_newer_data_alone(demo_site: DemoSite) -> None:
    """--only mosquitto,station puts the broker files back and touches no other layer."""
    demo_site.backup()
    demo_site.cluster.query(
        "INSERT INTO greenhouses (uid, name) VALUES ('gh-9', 'after the snapshot')", "hydro"
    )
    db = demo_site.db_state()
    shutil.rmtree(demo_site.root / "etc")
    (demo_site.root / "laravel" / "composer.lock").write_text("newer\n")
    done = demo_site.fleet("recover", "site", "--only", "mosquitto,station", "--yes", "--json")
    assert 0 == done.returncode, done.stdout + done.stderr
    assert ["mosquitto", "station"] == [s["name"] for s in json.loads(done.stdout)["steps"]]
    assert (demo_site.root / "etc/mosquitto/passwd").read_text().startswith("node:")
    assert db == demo_site.db_state()
    assert "newer\n" == (demo_site.root / "laravel" / "composer.lock").read_text()
