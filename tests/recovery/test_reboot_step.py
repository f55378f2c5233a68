"""The reboot step asks a running `fleet serve` for a campaign, once, even across a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w

from fleet.backup.agecrypt import write_identity
from fleet.backup.runner import run_backup
from fleet.context import FleetContext
from fleet.home import init_home
from fleet.registry.repo import NodeSpec
from fleet.service.campaign_store import CampaignStore
from fleet.service.client import service_running
from fleet.settings import Settings
from fleet.sim.broker import start_broker

from .conftest import FLEET_EXE, write


@dataclass
class Served:
    home: Path

    def fleet(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(FLEET_EXE), "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **env},
            timeout=120,
        )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A home with one snapshot and two nodes, a real broker and a running `fleet serve`."""
    broker = start_broker(tmp_path / "b")
    home = tmp_path / "h"
    home.mkdir()
    py = tmp_path / "py"
    write(py / ".env", "X=1\n", 0o600)
    recipient = write_identity(tmp_path / "id")
    config = {
        "backup": {
            "repository": str(tmp_path / "repo"),
            "recipients": [recipient],
            "identity": str(tmp_path / "id"),
        },
        "layers": {"python_service": {"root": str(py)}},
        "service": {"broker": broker.url, "metrics_port": 0, "restore_grace": 0},
    }
    (home / "fleet.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    settings = Settings.load(home, environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    for i in (1, 2):
        ctx.registry.add_node(NodeSpec(uid=f"nd-ph-{i}", gh_uid="gh-1", zone_uid="zn-1"))
    assert run_backup(settings).ok
    serve = subprocess.Popen(
        [str(FLEET_EXE), "--home", str(home), "serve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not service_running(ctx):
            assert serve.poll() is None and time.monotonic() < deadline, "fleet serve did not start"
            time.sleep(0.2)
        yield Served(home)
    finally:
        os.kill(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(serve.pid, signal.SIGKILL)
            serve.wait()
        broker.stop()


def test_reboot_step_starts_one_campaign_even_when_killed(served: Served) -> None:
    """Killed right after starting the campaign, the re-run reuses it and lists the nodes."""
    steps = "reboot,station"
    killed = served.fleet("recover", "site", "--only", steps, "--yes", FLEET_TEST_CRASH_AT="reboot")
    assert -signal.SIGKILL == killed.returncode, killed.stdout + killed.stderr
    done = served.fleet("recover", "site", "--only", steps, "--yes", "--json")
    assert 0 == done.returncode, done.stdout + done.stderr
    report = {s["name"]: s for s in json.loads(done.stdout)["steps"]}
    ctx = FleetContext.open(settings=Settings.load(served.home, environ={}))
    campaigns = CampaignStore(ctx.registry).campaigns()
    assert [campaigns[0].id] == [c.id for c in campaigns]
    assert campaigns[0].id == report["reboot"]["detail"]["campaign"]
    assert "started by an earlier attempt" == report["reboot"]["detail"]["note"]
    assert ["nd-ph-1", "nd-ph-2"] == report["station"]["detail"]["need_station"]
