"""Reboot campaigns against a real Mosquitto and several hundred simulated nodes."""

import asyncio
from pathlib import Path

import pytest

from fleet.service.api import ControlApi
from fleet.service.campaign_store import FINISHED, CampaignStore
from fleet.sim.broker import Broker
from fleet.sim.node.roster import FaultPlan, assign_faults, make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions

from .conftest import make_home, running, settings_for, wait_until

pytestmark = pytest.mark.mqtt


def test_campaign_over_300_nodes_gives_the_exact_report(broker: Broker, home: Path) -> None:
    """Healthy nodes come back; droppers never answer; no-return nodes are silent; a skewed
    clock and a wrong escrowed secret are refused with the firmware's error codes."""
    nodes = make_nodes(300, gh_uid="gh-1", zone_size=50)
    ctx = make_home(home, nodes)
    faults = assign_faults(nodes, FaultPlan(drop=4, no_return=3, skew=2, skew_s=60, seed=5))
    # the escrow holds a different secret than the node: its signature cannot match
    wrong = next(n for n in nodes if not n.faults.any)
    wrong.secret = "0" * 64
    cfg = settings_for(
        broker, reboot_rate=150, command_timeout=2.0, reboot_back_timeout=5.0, restore_grace=1
    )
    opts = SimOptions(
        heartbeat_interval=2.0, nodes_per_connection=100, reconnect_delay=0.5, restart_after=0.3
    )

    async def scenario() -> int:
        async with running(ctx, cfg) as svc, NodeSimulator(broker.host, broker.port, nodes, opts):
            answer = await ControlApi(svc).handle({"op": "reboot", "all": True})
            cid = int(answer["campaign"]["id"])
            await wait_until(lambda: svc.campaigns[cid].state == FINISHED, 60)
            return cid

    cid = asyncio.run(scenario())
    rep = CampaignStore(ctx.registry).get(cid).report()
    refused = {n.key: "timestamp_expired" for n in nodes if n.key in faults["skew"]}
    refused[wrong.key] = "invalid_signature"
    assert refused == rep.refused
    assert sorted(faults["drop"]) == rep.no_answer
    assert sorted(faults["no_return"]) == rep.silent
    unusual = set(refused) | set(faults["drop"]) | set(faults["no_return"])
    assert sorted(n.key for n in nodes if n.key not in unusual) == rep.back
    assert [] == rep.in_progress
