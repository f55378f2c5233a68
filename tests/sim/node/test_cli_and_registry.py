"""`fleet sim nodes` and simulation of the registry's own nodes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.sim_nodes import app
from fleet.context import FleetContext
from fleet.home import init_home
from fleet.protocol import build_command
from fleet.registry.importing import import_rows
from fleet.settings import Settings
from fleet.sim.broker import Broker
from fleet.sim.node.roster import nodes_from_registry
from fleet.sim.node.simulator import NodeSimulator, SimOptions
from fleet.sim.observer import Observer
from fleet.sim.site import sample_rows

pytestmark = pytest.mark.mqtt


def test_cli_runs_nodes_with_faults_and_reports_json(broker: Broker, tmp_path: Path) -> None:
    """The command runs N nodes for --duration, names the faulty ones and exits 0."""
    env = {"FLEET_HOME": str(tmp_path / "home")}
    args = ["--count", "40", "--broker", broker.url, "--heartbeat-interval", "0.2"]
    args += ["--duration", "1", "--drop", "2", "--no-return", "3", "--json"]
    result = CliRunner().invoke(app, args, env=env)
    assert 0 == result.exit_code, result.output
    out = json.loads(result.output)
    assert (40, 1, 2, 3) == (
        out["nodes"],
        out["connected"],
        len(out["faults"]["drop"]),
        len(out["faults"]["no_return"]),
    )
    assert out["heartbeats"] >= 40


def test_cli_refuses_a_bad_broker_url(tmp_path: Path) -> None:
    """A broker URL that is not mqtt://host:port is a usage error (exit 2) naming it."""
    env = {"FLEET_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(app, ["--count", "1", "--broker", "http://x", "--json"], env=env)
    assert (2, "UsageError") == (result.exit_code, json.loads(result.output)["error"])


def test_registry_nodes_accept_commands_signed_with_their_vault_secret(
    broker: Broker, tmp_path: Path
) -> None:
    """--from-registry nodes use the escrowed secret: a command signed for them is DONE."""
    settings = Settings.load(tmp_path / "home", environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    import_rows(ctx.registry, ctx.vault, sample_rows(3), source="test")
    nodes = nodes_from_registry(ctx)
    target = nodes[1]
    assert target.node_uid is not None
    cmd = build_command(ctx.vault.node_secret(target.node_uid), "reboot", cmd_id="reg-1")

    async def scenario() -> dict[str, object]:
        opts = SimOptions(heartbeat_interval=0.5, restart_after=0.1, boot_time=0.1)
        async with Observer(broker) as obs, NodeSimulator(broker.host, broker.port, nodes, opts):
            await obs.answer_time()
            await obs.wait_for(lambda: target.time_synced, what="time sync")
            topic = f"{target.base_topic}/system/command_response"
            await obs.publish(f"{target.base_topic}/system/command", json.dumps(cmd))
            raw = await obs.next_on(topic)
            answer: dict[str, object] = json.loads(raw)
            return answer

    answer = asyncio.run(scenario())
    assert (3, "reg-1", "DONE") == (len(nodes), answer["cmd_id"], answer["status"])


def test_cli_simulates_the_registry_nodes(broker: Broker, tmp_path: Path) -> None:
    """`--from-registry` runs one simulated node per registered node."""
    home = tmp_path / "home"
    settings = Settings.load(home, environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    import_rows(ctx.registry, ctx.vault, sample_rows(4), source="test")
    args = ["--from-registry", "--broker", broker.url, "--duration", "0.5", "--json"]
    result = CliRunner().invoke(app, args, env={"FLEET_HOME": str(home)})
    assert 0 == result.exit_code, result.output
    assert (4, 1) == (json.loads(result.output)["nodes"], json.loads(result.output)["connected"])
