"""Control requests, metrics text and the standalone path (no running service)."""

import asyncio
import json
import threading
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fleet.cli import command_send
from fleet.errors import NodeNotFound, UsageError
from fleet.service import control
from fleet.service.api import select_nodes
from fleet.service.commands import Route
from fleet.service.liveness import State
from fleet.service.metrics import render
from fleet.sim.broker import Broker
from fleet.sim.node.roster import make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions

from .conftest import make_home

ROUTES = {
    "nd-1": Route("gh-1", "zn-1"),
    "nd-2": Route("gh-1", "zn-2"),
    "nd-3": Route("gh-1", "zn-2"),
}


def test_select_nodes_by_uids_zone_or_all() -> None:
    """A reboot names nodes by uid, by zone or all of them; exactly one of the three."""
    assert ["nd-1", "nd-2", "nd-3"] == select_nodes(ROUTES, None, True, None)
    assert ["nd-2", "nd-3"] == select_nodes(ROUTES, None, False, "zn-2")
    assert ["nd-3", "nd-1"] == select_nodes(ROUTES, ["nd-3", "nd-1", "nd-3"], False, None)
    with pytest.raises(UsageError):
        select_nodes(ROUTES, ["nd-1"], True, None)
    with pytest.raises(UsageError):
        select_nodes(ROUTES, None, False, "zn-9")


def test_metrics_text_is_prometheus_exposition() -> None:
    """Every state is present (zeros included), counters and campaign progress are labelled."""
    text = render(
        dict.fromkeys(State, 0) | {State.ONLINE: 3},
        {"heartbeat": 10},
        {"status": 2},
        {"connected": 1.0},
        [(7, {"back": 2, "in_progress": 1})],
    )
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert 'fleet_nodes{state="ONLINE"} 3' in lines
    assert 'fleet_nodes{state="OFFLINE"} 0' in lines
    assert 'fleet_messages_total{kind="heartbeat"} 10' in lines
    assert 'fleet_malformed_total{kind="status"} 2' in lines
    assert "fleet_connected 1" in lines
    assert 'fleet_campaign_nodes{campaign="7",outcome="back"} 2' in lines


def test_service_errors_come_back_with_their_class_and_exit_code() -> None:
    """An error answered over the control socket is re-raised as the same FleetError kind."""
    err = control.rebuild_error(NodeNotFound("nd-9").to_dict())
    assert (NodeNotFound, 66, "node nd-9 is not registered") == (
        type(err),
        err.exit_code,
        err.message,
    )


@pytest.mark.mqtt
def test_command_send_without_a_running_service(broker: Broker, home: Path) -> None:
    """With no `fleet serve`, `fleet command send --wait` connects alone, syncs the node's
    clock and gets DONE; an unknown node is refused with exit 66."""
    nodes = make_nodes(1, gh_uid="gh-1")
    make_home(home, nodes, environ={"FLEET_SERVICE__BROKER": broker.url})
    (home / "fleet.toml").write_text(f'[service]\nbroker = "{broker.url}"\nmetrics_port = 0\n')
    app = typer.Typer()
    app.command("send")(command_send.send)
    runner = CliRunner()
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def sim() -> None:
        async def go() -> None:
            opts = SimOptions(heartbeat_interval=1.0)
            async with NodeSimulator(broker.host, broker.port, nodes, opts):
                while not stop.is_set():
                    await asyncio.sleep(0.1)

        asyncio.run(go())

    t = threading.Thread(target=sim)
    t.start()
    try:
        for uid in ("nd-sim-0", "nd-sim-9"):
            r = runner.invoke(
                app, [uid, "--cmd", "reboot", "--wait", "--json"], env={"FLEET_HOME": str(home)}
            )
            results.append((r.exit_code, r.stdout))
    finally:
        stop.set()
        t.join()
    assert (0, "DONE") == (results[0][0], json.loads(results[0][1])["status"])
    assert (66, "NodeNotFound") == (results[1][0], json.loads(results[1][1])["error"])
