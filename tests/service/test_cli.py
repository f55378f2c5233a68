"""`fleet command send`, `fleet reboot`, `fleet campaigns` against a running service."""

import asyncio
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fleet.cli import command_send
from fleet.cli.main import app
from fleet.sim.broker import Broker
from fleet.sim.node.roster import make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions

from .conftest import make_home, running, settings_for

pytestmark = pytest.mark.mqtt

send_app = typer.Typer()
send_app.command("send")(command_send.send)


def test_command_send_reboot_and_campaigns(broker: Broker, home: Path) -> None:
    """A signed command is answered DONE; a wrong escrowed secret is refused with
    invalid_signature (exit 65); a manual reboot's report is listed and shown as JSON."""
    nodes = make_nodes(4, gh_uid="gh-1")
    ctx = make_home(home, nodes)
    nodes[3].secret = "1" * 64  # the node holds another secret than the escrow
    cfg = settings_for(broker, command_timeout=5, reboot_back_timeout=5, reboot_rate=10)
    opts = SimOptions(heartbeat_interval=1.0, restart_after=0.3)
    runner = CliRunner()

    def cli(*args: str, target: typer.Typer = app) -> tuple[int, str]:
        prefix = [] if target is send_app else ["--home", str(home)]
        r = runner.invoke(target, [*prefix, *args], obj=None, env={"FLEET_HOME": str(home)})
        return r.exit_code, r.stdout

    async def scenario() -> list[tuple[int, str]]:
        async with running(ctx, cfg), NodeSimulator(broker.host, broker.port, nodes, opts):
            await asyncio.sleep(1.0)  # the nodes sync their clocks
            ok = await asyncio.to_thread(
                cli, "nd-sim-0", "--cmd", "reboot", "--wait", "--json", target=send_app
            )
            bad = await asyncio.to_thread(
                cli, "nd-sim-3", "--cmd", "reboot", "--wait", "--json", target=send_app
            )
            reboot = await asyncio.to_thread(cli, "reboot", "nd-sim-1", "nd-sim-2", "--json")
            return [ok, bad, reboot]

    ok, bad, reboot = asyncio.run(scenario())
    assert (0, "DONE") == (ok[0], json.loads(ok[1])["status"])
    assert (65, "invalid_signature") == (bad[0], json.loads(bad[1])["error_code"])
    assert 0 == reboot[0]
    report = json.loads(reboot[1])
    assert (["nd-sim-1", "nd-sim-2"], "finished") == (report["back"], report["state"])
    code, out = cli("campaigns", "list", "--json")
    assert [report["id"]] == [c["id"] for c in json.loads(out)]
    code, out = cli("campaigns", "show", str(report["id"]), "--json")
    assert ["nd-sim-1", "nd-sim-2"] == json.loads(out)["back"]
    code, out = cli("campaigns", "show", "99", "--json")
    assert 66 == code
