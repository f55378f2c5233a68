"""Broker restore: detected, grace, then a paced signed reboot of every node; metrics."""

import asyncio
import urllib.request
from pathlib import Path

import pytest

from fleet.service.api import ControlApi
from fleet.service.campaign_store import FINISHED
from fleet.service.liveness import State
from fleet.sim.broker import Broker
from fleet.sim.node.roster import FaultPlan, assign_faults, make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions

from .conftest import make_home, running, settings_for, wait_until

pytestmark = pytest.mark.mqtt


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def test_restart_of_the_broker_starts_a_reboot_campaign(broker: Broker, home: Path) -> None:
    """kill -9 and restart of Mosquitto: after the grace every node gets a signed reboot;
    the report lists the node that did not come back; no node was judged OFFLINE meanwhile."""
    nodes = make_nodes(30, gh_uid="gh-1", zone_size=10)
    faults = assign_faults(nodes, FaultPlan(no_return=1, seed=2))
    ctx = make_home(home, nodes)
    cfg = settings_for(
        broker,
        stale_after=2,
        offline_after=4,
        restore_grace=1.5,
        restore_outage=1.0,
        reboot_rate=30,
        command_timeout=3,
        reboot_back_timeout=5,
    )
    opts = SimOptions(
        heartbeat_interval=1.0, nodes_per_connection=10, reconnect_delay=0.5, restart_after=0.3
    )

    async def scenario() -> tuple[dict[str, object], str, dict[State, int]]:
        async with running(ctx, cfg) as svc, NodeSimulator(broker.host, broker.port, nodes, opts):
            await wait_until(lambda: svc.liveness.counts()[State.ONLINE] == 30, 20)
            assert svc.metrics_port is not None
            await asyncio.to_thread(broker.restart, hard=True, downtime=2.0)
            await wait_until(lambda: bool(svc.campaigns), 30)
            counts_after = svc.liveness.counts()
            c = next(iter(svc.campaigns.values()))
            await wait_until(lambda: c.state == FINISHED, 60)
            text = await asyncio.to_thread(scrape, svc.metrics_port)
            detail = await ControlApi(svc).handle({"op": "campaign", "id": c.id})
            return detail["campaign"], text, counts_after

    campaign, text, counts_after = asyncio.run(scenario())
    assert 0 == counts_after[State.OFFLINE]
    assert str(campaign["reason"]).startswith("broker restore")
    outcome = {k: campaign[k] for k in ("silent", "no_answer", "refused", "in_progress")}
    expected = {"silent": sorted(faults["no_return"]), "no_answer": [], "refused": {}}
    assert {**expected, "in_progress": []} == outcome
    assert 29 == len(campaign["back"])  # type: ignore[arg-type]
    assert 'fleet_nodes{state="ONLINE"}' in text
    assert "fleet_broker_restores 1" in text
    actions = [r["action"] for r in ctx.registry.audit_log(action="broker.restore")]
    assert ["broker.restore"] == actions


def test_only_nodes_unseen_since_the_restore_are_rebooted(broker: Broker, home: Path) -> None:
    """With reboot_only_unseen, nodes heard from after the restore are left out."""
    nodes = make_nodes(6, gh_uid="gh-1")
    ctx = make_home(home, nodes)
    cfg = settings_for(
        broker,
        restore_grace=3.0,
        restore_outage=1.0,
        reboot_only_unseen=True,
        reboot_back_timeout=2,
        command_timeout=1,
    )
    opts = SimOptions(heartbeat_interval=0.5, reconnect_delay=0.3)

    async def scenario() -> list[str]:
        sim = NodeSimulator(broker.host, broker.port, nodes, opts)
        async with running(ctx, cfg) as svc, sim:
            await wait_until(lambda: svc.liveness.counts()[State.ONLINE] == 6, 20)
            sim.silence("nd-sim-4")
            await asyncio.to_thread(broker.restart, hard=True, downtime=1.5)
            await wait_until(lambda: bool(svc.campaigns), 30)
            c = next(iter(svc.campaigns.values()))
            await wait_until(lambda: c.state == FINISHED, 30)
            return sorted(c.targets)

    assert ["nd-sim-4"] == asyncio.run(scenario())


def test_explicit_trigger_after_a_restore(broker: Broker, home: Path) -> None:
    """`fleet reboot --after-restore` (the restore flow's call) starts a campaign after the
    grace; a second call while it waits joins it; each call leaves one audit record."""
    nodes = make_nodes(5, gh_uid="gh-1")
    ctx = make_home(home, nodes)
    cfg = settings_for(broker, restore_grace=0.5, reboot_back_timeout=5, command_timeout=3)
    opts = SimOptions(heartbeat_interval=1.0, restart_after=0.3)

    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        sim = NodeSimulator(broker.host, broker.port, nodes, opts)
        async with running(ctx, cfg) as svc, sim:
            await wait_until(lambda: svc.liveness.counts()[State.ONLINE] == 5, 20)
            api = ControlApi(svc)
            first = await api.handle({"op": "reboot", "after_restore": True})
            again = await api.handle({"op": "reboot", "after_restore": True})
            cid = first["campaign"]["id"]
            await wait_until(lambda: svc.campaigns[cid].state == FINISHED, 30)
            detail = await api.handle({"op": "campaign", "id": cid})
            return again["campaign"], detail["campaign"]

    again, campaign = asyncio.run(scenario())
    assert campaign["id"] == again["id"]
    assert ("broker restore: explicit trigger", [n.key for n in nodes]) == (
        campaign["reason"],
        campaign["back"],
    )
    assert 2 == len(ctx.registry.audit_log(action="broker.restore"))
