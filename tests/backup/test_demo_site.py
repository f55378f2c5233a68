"""The demo site backs up completely and verifies reading every byte."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from fleet.backup.agecrypt import load_identity, write_identity
from fleet.backup.demo_site import make_demo_site
from fleet.backup.repository import Repository
from fleet.backup.runner import run_backup
from fleet.backup.verify import verify_snapshot
from fleet.settings import Settings


def test_demo_site_snapshot_is_complete_and_verifies_with_read_data(tmp_path: Path) -> None:
    """Every file layer of the demo site is captured; --read-data verification passes."""
    layers = make_demo_site(tmp_path / "site")
    recipient = write_identity(tmp_path / "id.txt")
    home = tmp_path / "home"
    home.mkdir()
    conf = {"backup": {"repository": str(tmp_path / "repo"), "recipients": [recipient]}}
    (home / "fleet.toml").write_text(tomli_w.dumps({**conf, "layers": layers}))
    result = run_backup(Settings.load(home, environ={}))
    expected = {"fleet", "laravel", "python_service", "mosquitto", "docker"}
    assert {k: "ok" for k in expected} == result.layers
    report = verify_snapshot(
        Repository(tmp_path / "repo"), result.snapshot, load_identity(tmp_path / "id.txt")
    )
    assert (True, "data", 5) == (report.ok, report.level, report.artifacts)
