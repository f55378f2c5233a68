"""A campaign survives `kill -9` of a real `fleet serve` process and finishes after restart."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.errors import MissingPrerequisite
from fleet.service import control
from fleet.service.campaign_store import FINISHED, RUNNING, CampaignStore
from fleet.service.report import Outcome
from fleet.sim.broker import Broker
from fleet.sim.node.roster import FaultPlan, assign_faults, make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions

from .conftest import make_home, wait_until

pytestmark = pytest.mark.mqtt


def start_serve(home: Path, broker: Broker, log: Path) -> subprocess.Popen[bytes]:
    """`fleet serve` as its own process (the console script's module)."""
    env = {
        **os.environ,
        "FLEET_SERVICE__REBOOT_BACK_TIMEOUT": "6",
        "FLEET_SERVICE__FLUSH_INTERVAL": "0.2",
        "FLEET_SERVICE__TELEMETRY_INTERVAL": "0.2",
        "FLEET_SERVICE__RESTORE_OUTAGE": "300",
    }
    env.pop("FLEET_HOME", None)
    cmd = [sys.executable, "-c", "from fleet.cli.main import main; main()", "--home", str(home)]
    cmd += ["serve", "--broker", broker.url, "--reboot-rate", "8", "--command-timeout", "2"]
    cmd += ["--metrics-port", "0"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def answers(sock: Path) -> bool:
    try:
        control.call(sock, {"op": "status"}, timeout=2)
        return True
    except MissingPrerequisite:
        return False


def test_campaign_resumes_after_kill(broker: Broker, home: Path, tmp_path: Path) -> None:
    """Killed mid-campaign, the restarted service finishes it: every node accounted for."""
    nodes = make_nodes(40, gh_uid="gh-1", zone_size=20)
    faults = assign_faults(nodes, FaultPlan(no_return=2, seed=3))
    ctx = make_home(home, nodes)
    store = CampaignStore(ctx.registry)
    sock = home / "serve.sock"
    log = tmp_path / "serve.log"
    opts = SimOptions(heartbeat_interval=2.0, nodes_per_connection=20, restart_after=0.3)

    async def scenario() -> int:
        async with NodeSimulator(broker.host, broker.port, nodes, opts):
            proc = start_serve(home, broker, log)
            try:
                await wait_until(lambda: answers(sock), 60)
                answer = control.call(sock, {"op": "reboot", "all": True})
                cid = int(answer["campaign"]["id"])

                def some_done() -> bool:
                    c = store.get(cid)
                    final = sum(t.final for t in c.targets.values())
                    return final >= 8

                await wait_until(some_done, 60)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                c = store.get(cid)
                assert RUNNING == c.state
                assert any(t.outcome == Outcome.PENDING for t in c.targets.values())
                proc = start_serve(home, broker, log)
                await wait_until(lambda: store.get(cid).state == FINISHED, 120)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
            return cid

    cid = asyncio.run(scenario())
    rep = store.get(cid).report()
    assert sorted(faults["no_return"]) == rep.silent
    assert sorted(n.key for n in nodes if n.key not in faults["no_return"]) == rep.back
    assert ([], {}) == (rep.no_answer, rep.refused)
    assert "resuming campaign" in log.read_text()
