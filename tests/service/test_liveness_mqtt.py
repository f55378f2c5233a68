"""Liveness against a real Mosquitto and simulated nodes."""

import asyncio
from pathlib import Path

import pytest

from fleet.service.liveness import State
from fleet.sim.broker import Broker
from fleet.sim.node.roster import make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions

from .conftest import make_home, running, settings_for, wait_until

pytestmark = pytest.mark.mqtt


def test_transitions_including_lwt_of_a_killed_connection(broker: Broker, home: Path) -> None:
    """ONLINE on heartbeats; a killed connection's last will is OFFLINE at once; silence
    gives STALE then OFFLINE; the registry holds the states and the audit log the changes;
    an unbound node's hello is recorded as an unregistered candidate."""
    nodes = make_nodes(3, gh_uid="gh-1", unbound=1)
    ctx = make_home(home, nodes[:3])
    cfg = settings_for(broker, stale_after=1.5, offline_after=3.0, restore_grace=0.5)
    opts = SimOptions(heartbeat_interval=0.5, per_node_connections=True, reconnect_delay=0.5)

    async def scenario() -> None:
        async with (
            running(ctx, cfg) as svc,
            NodeSimulator(broker.host, broker.port, nodes, opts) as sim,
        ):
            lv = svc.liveness
            await wait_until(
                lambda: all(lv.nodes[n.key].state == State.ONLINE for n in nodes[:3]), 10
            )
            await wait_until(lambda: nodes[3].hardware_id in svc.dispatcher.candidates, 10)
            sim.drop_connection("nd-sim-0", reconnect=False)
            await wait_until(lambda: lv.nodes["nd-sim-0"].state == State.OFFLINE, 5)
            assert State.ONLINE == lv.nodes["nd-sim-1"].state
            sim.silence("nd-sim-1")
            await wait_until(lambda: lv.nodes["nd-sim-1"].state == State.STALE, 5)
            await wait_until(lambda: lv.nodes["nd-sim-1"].state == State.OFFLINE, 5)
            assert State.ONLINE == lv.nodes["nd-sim-2"].state
            await svc.flush()

    asyncio.run(scenario())
    states = {n.uid: n.state for n in ctx.registry.list_nodes()}
    assert {"nd-sim-0": "OFFLINE", "nd-sim-1": "OFFLINE", "nd-sim-2": "ONLINE"} == states
    changes = [
        (r["node_uid"], r["detail"]["to"], r["detail"]["reason"])
        for r in reversed(ctx.registry.audit_log(action="node.state"))
        if r["node_uid"] in ("nd-sim-0", "nd-sim-1")
    ]
    assert ("nd-sim-0", "OFFLINE", "lwt") in changes
    assert [("nd-sim-1", "STALE", "silence"), ("nd-sim-1", "OFFLINE", "silence")] == [
        c for c in changes if c[0] == "nd-sim-1" and c[1] != "ONLINE"
    ]
    assert [nodes[3].hardware_id] == [c["hardware_id"] for c in ctx.registry.candidates()]
    node = ctx.registry.get_node("nd-sim-2")
    assert "2.0.0-sim" == node.fw_version
    assert node.uptime is not None and node.last_heartbeat_at is not None


def test_no_false_offline_during_and_after_broker_outage(broker: Broker, home: Path) -> None:
    """A broker outage longer than offline_after sends no node OFFLINE, during or after it."""
    nodes = make_nodes(40, gh_uid="gh-1", zone_size=20)
    ctx = make_home(home, nodes)
    cfg = settings_for(
        broker, stale_after=1.0, offline_after=2.0, restore_grace=3.0, auto_reboot=False
    )
    opts = SimOptions(heartbeat_interval=0.5, nodes_per_connection=10, reconnect_delay=0.5)

    async def scenario() -> dict[State, int]:
        async with running(ctx, cfg) as svc, NodeSimulator(broker.host, broker.port, nodes, opts):
            lv = svc.liveness
            await wait_until(lambda: lv.counts()[State.ONLINE] == 40, 10)
            await asyncio.to_thread(broker.kill)
            await asyncio.sleep(4.0)  # twice offline_after with the broker gone
            await asyncio.to_thread(broker.start)
            await wait_until(lambda: svc.connection.connected.is_set(), 20)
            await asyncio.sleep(4.0)  # past the grace period
            await svc.flush()
            return lv.counts()

    counts = asyncio.run(scenario())
    assert 40 == counts[State.ONLINE]
    offline = [
        r for r in ctx.registry.audit_log(action="node.state") if r["detail"]["to"] == "OFFLINE"
    ]
    assert [] == offline
