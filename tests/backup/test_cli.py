"""`fleet backup` as a user runs it: keygen, run, list, verify, prune; --json and exit codes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from fleet.backup.repository import Repository
from fleet.cli.main import app

runner = CliRunner()


def fleet(site: Any, *args: str) -> Any:
    """Run `fleet --home HOME backup ARGS` in-process; return the click result."""
    site.settings()
    return runner.invoke(app, ["--home", str(site.home), "backup", *args])


def test_keygen_writes_a_0600_identity_and_prints_its_recipient(site: Any, tmp_path: Path) -> None:
    """keygen creates a private identity file, prints the age1 key, refuses to overwrite."""
    out = tmp_path / "keys" / "id.txt"
    res = fleet(site, "keygen", "-o", str(out), "--json")
    assert 0 == res.exit_code
    doc = json.loads(res.stdout)
    assert 0o600 == stat.S_IMODE(out.stat().st_mode)
    assert doc["recipient"].startswith("age1")
    assert f"# public key: {doc['recipient']}" in out.read_text()
    again = fleet(site, "keygen", "-o", str(out), "--json")
    assert (78, "ConfigError") == (again.exit_code, json.loads(again.stdout)["error"])


def test_run_json_says_which_layers_ran_and_which_were_skipped(site: Any) -> None:
    """A run reports every layer: those with a section ran, the postgres one without was skipped."""
    res = fleet(site, "run", "--json")
    assert 0 == res.exit_code, res.stdout
    doc = json.loads(res.stdout)
    expected = {"fleet", "laravel", "python_service", "mosquitto", "docker"}
    assert {k: "ok" for k in expected} == doc["layers"]
    assert {"postgres": "no [layers.postgres] section"} == doc["skipped"]
    assert (True, True) == (doc["ok"], doc["verify"]["ok"])
    listed = json.loads(fleet(site, "list", "--json").stdout)["snapshots"]
    assert [doc["snapshot"]] == [s["id"] for s in listed]


def test_missing_root_is_named_and_nothing_is_written(site: Any) -> None:
    """A layer whose root is gone stops the run before anything is written, naming the path."""
    site.config["layers"]["laravel"]["root"] = "/nonexistent/laravel"
    res = fleet(site, "run", "--json")
    doc = json.loads(res.stdout)
    assert (69, "MissingPrerequisite") == (res.exit_code, doc["error"])
    assert "/nonexistent/laravel" in doc["message"]
    assert [] == Repository(site.repo).snapshot_ids()


def test_verify_read_data_exits_74_and_names_the_damaged_artifact(site: Any) -> None:
    """verify --read-data on a damaged snapshot fails with the artifact's name."""
    sid = json.loads(fleet(site, "run", "--layers", "python_service", "--json").stdout)["snapshot"]
    ok = fleet(site, "verify", sid, "--read-data", "--identity", str(site.identity_file), "--json")
    assert (0, True) == (ok.exit_code, json.loads(ok.stdout)["ok"])
    art = site.repo / "snapshots" / sid / "artifacts/python_service/files.tar.zst.age"
    data = bytearray(art.read_bytes())
    data[len(data) // 2] ^= 0xFF
    art.write_bytes(bytes(data))
    bad = fleet(site, "verify", sid, "--read-data", "--identity", str(site.identity_file), "--json")
    doc = json.loads(bad.stdout)
    assert (74, False) == (bad.exit_code, doc["ok"])
    assert "artifacts/python_service/files.tar.zst.age" in doc["snapshots"][0]["problems"][0]


def test_second_backup_is_refused_while_one_holds_the_lock(site: Any) -> None:
    """Two backups never run at once: the second is refused naming the holder's pid."""
    site.settings()
    with Repository(site.repo).lock("test holder"):
        res = fleet(site, "run", "--json")
    doc = json.loads(res.stdout)
    assert (73, "Conflict") == (res.exit_code, doc["error"])
    assert f"pid {os.getpid()}" in doc["message"]


def test_prune_dry_run_lists_decisions_and_deletes_nothing(site: Any) -> None:
    """prune --dry-run keeps every snapshot on disk and says why for each."""
    for _ in range(2):
        assert 0 == fleet(site, "run", "--layers", "python_service", "--json").exit_code
    site.config["backup"]["retention"] = {"keep_days": 0, "keep_last": 1}
    res = fleet(site, "prune", "--dry-run", "--json")
    decisions = json.loads(res.stdout)["decisions"]
    assert [True, False] == [d["keep"] for d in decisions]
    assert ["outside every retention rule"] == decisions[1]["reasons"]
    assert 2 == len(Repository(site.repo).snapshot_ids())
    assert 0 == fleet(site, "prune", "--json").exit_code
    assert [decisions[0]["id"]] == Repository(site.repo).snapshot_ids()
