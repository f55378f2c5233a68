"""`fleet ota` on the command line: the JSON report, exit codes, settings from the environment."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.sim.broker import Broker, free_port
from fleet.sim.node.simulator import NodeSimulator

from .conftest import FAST, NEW, RUN, assign, import_firmwares, make_home, sim_node

pytestmark = pytest.mark.mqtt


def test_cli_updates_a_zone_and_refuses_a_factory_only_node(broker: Broker, tmp_path: Path) -> None:
    """`fleet ota --zone` refuses the whole run (exit 65) while one node's firmware is
    factory-only; with --skip-refused the other node is updated (DONE, exit still 65 for
    the refusal), and a second run finds it up to date."""
    home = tmp_path / "h"
    ph, ec = sim_node(1), sim_node(2, chip_type="ec")
    ctx = make_home(home, [ph, ec], broker)
    fw = import_firmwares(ctx, tmp_path / "b")
    assign(ctx, fw.ota, "ph")
    assign(ctx, fw.factory, "ec")
    env = {"FLEET_HOME": str(home), "FLEET_SERVICE__BROKER": broker.url}
    env.update({f"FLEET_OTA__{k.upper()}": str(v) for k, v in RUN.items()})
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, dict[str, object]]:
        r = runner.invoke(app, ["--home", str(home), "ota", *args, "--json"], env=env)
        return r.exit_code, json.loads(r.stdout)

    async def scenario() -> list[tuple[int, dict[str, object]]]:
        async with NodeSimulator(broker.host, broker.port, [ph, ec], FAST):
            held = await asyncio.to_thread(cli, "--zone", "zn-1")
            skipped = await asyncio.to_thread(cli, "--zone", "zn-1", "--skip-refused")
            again = await asyncio.to_thread(cli, "nd-ota-1")
            return [held, skipped, again]

    held, skipped, again = asyncio.run(scenario())

    def outcomes(report: dict[str, object]) -> dict[str, str]:
        nodes = report["nodes"]
        assert isinstance(nodes, list)
        return {n["node_uid"]: n["outcome"] for n in nodes}

    assert (65, {"nd-ota-1": "not_sent", "nd-ota-2": "refused"}) == (held[0], outcomes(held[1]))
    assert (65, {"nd-ota-1": "done", "nd-ota-2": "refused"}) == (
        skipped[0],
        outcomes(skipped[1]),
    )
    assert (0, {"nd-ota-1": "up_to_date"}) == (again[0], outcomes(again[1]))
    assert NEW == ph.fw_version


def test_cli_unknown_node_exits_66(tmp_path: Path) -> None:
    """An unregistered uid is named, with the not-found exit code, before any connection."""
    home = tmp_path / "h"
    make_home(home, [])
    r = CliRunner().invoke(app, ["--home", str(home), "ota", "nd-nope", "--json"])
    assert (66, "node nd-nope is not registered") == (r.exit_code, json.loads(r.stdout)["message"])


def test_cli_bad_rate_is_a_usage_error(tmp_path: Path) -> None:
    """--rate 0 is refused as a usage error naming the option, not a traceback."""
    home = tmp_path / "h"
    make_home(home, [sim_node(1)])
    r = CliRunner().invoke(app, ["--home", str(home), "ota", "nd-ota-1", "--rate", "0", "--json"])
    assert 2 == r.exit_code
    assert json.loads(r.stdout)["message"].startswith("ota options: rate:")


def test_cli_unreachable_broker_is_named_and_nothing_is_recorded_as_done(tmp_path: Path) -> None:
    """With no broker at the configured address the run fails with exit 75 naming it."""
    home = tmp_path / "h"
    node = sim_node(1)
    ctx = make_home(home, [node])
    assign(ctx, import_firmwares(ctx, tmp_path / "b").ota, "ph")
    url = f"mqtt://127.0.0.1:{free_port()}"
    env = {"FLEET_SERVICE__BROKER": url, "FLEET_OTA__LISTEN_HOST": "127.0.0.1"}
    env["FLEET_OTA__LISTEN_PORT"] = "0"
    r = CliRunner().invoke(app, ["--home", str(home), "ota", "nd-ota-1", "--json"], env=env)
    assert 75 == r.exit_code
    assert url.removeprefix("mqtt://") in json.loads(r.stdout)["message"]
    assert [] == ctx.registry.audit_log(action="ota.update")
