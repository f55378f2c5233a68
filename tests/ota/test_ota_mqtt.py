"""`fleet ota` end to end: real Mosquitto, simulated nodes, the firmware server on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fleet.context import FleetContext
from fleet.ota.report import OtaReport
from fleet.ota.run import update_nodes
from fleet.ota.server import OtaServer
from fleet.sim.broker import Broker
from fleet.sim.node.firmware import NodeFaults, SimNode
from fleet.sim.node.simulator import NodeSimulator
from fleet.sim.observer import Observer

from .conftest import FAST, NEW, OLD, RUN, assign, import_firmwares, make_home, sim_node

pytestmark = pytest.mark.mqtt


def outcomes(report: OtaReport) -> dict[str, str]:
    return {n.node_uid: n.outcome for n in report.nodes}


async def run_with_sims(
    broker: Broker,
    ctx: FleetContext,
    nodes: Sequence[SimNode],
    uids: Sequence[str],
    server: OtaServer | None = None,
    **kw: Any,
) -> tuple[OtaReport, list[tuple[str, bytes, bool]]]:
    """Run `update_nodes` with `nodes` simulated; also return what went to OTA topics."""
    async with Observer(broker, ("hydro/system/ota/#",)) as obs:
        async with NodeSimulator(broker.host, broker.port, nodes, FAST):
            report = await update_nodes(ctx, uids, overrides=RUN, server=server, **kw)
        return report, list(obs.messages)


def test_factory_only_table_is_refused_before_anything_is_sent(
    broker: Broker, tmp_path: Path
) -> None:
    """A node whose firmware has no OTA slots is refused by name; no command is published
    to any node, not even to the one that could have been updated."""
    good, bad = sim_node(1), sim_node(2, chip_type="ec")
    ctx = make_home(tmp_path / "h", [good, bad], broker)
    fw = import_firmwares(ctx, tmp_path / "b")
    assign(ctx, fw.ota, "ph")
    assign(ctx, fw.factory, "ec")

    async def scenario() -> tuple[OtaReport, list[tuple[str, bytes, bool]]]:
        report, seen = await run_with_sims(broker, ctx, [good, bad], ["nd-ota-1", "nd-ota-2"])
        await asyncio.sleep(0.3)
        return report, seen

    report, seen = asyncio.run(scenario())
    assert {"nd-ota-1": "not_sent", "nd-ota-2": "refused"} == outcomes(report)
    refused = next(n for n in report.nodes if n.node_uid == "nd-ota-2")
    assert "node nd-ota-2" in refused.detail and "factory-only" in refused.detail
    assert [] == seen
    assert OLD == good.fw_version
    assert "refused" == ctx.registry.audit_log(node_uid="nd-ota-2")[0]["outcome"]


def test_wrong_chip_firmware_is_refused(broker: Broker, tmp_path: Path) -> None:
    """--firmware for another chip is refused naming both chips; nothing is sent."""
    node = sim_node(1)
    ctx = make_home(tmp_path / "h", [node], broker)
    fw = import_firmwares(ctx, tmp_path / "b")

    report, seen = asyncio.run(
        run_with_sims(broker, ctx, [node], ["nd-ota-1"], firmware_id=fw.c3.id)
    )
    assert [("nd-ota-1", "refused")] == [(n.node_uid, n.outcome) for n in report.nodes]
    assert "node nd-ota-1 is esp32, the firmware is for esp32c3" == report.nodes[0].detail
    assert [] == seen


def test_good_update_of_three_nodes_is_done_with_new_version_in_registry(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Three nodes download, answer OK, reboot and come back on the new version: DONE,
    the registry says so, each has an audit record, and no secret reaches the log."""
    caplog.set_level(logging.DEBUG)
    nodes = [sim_node(i) for i in (1, 2, 3)]
    ctx = make_home(tmp_path / "h", nodes, broker)
    fw = import_firmwares(ctx, tmp_path / "b")
    assign(ctx, fw.ota, "ph")
    uids = [n.node_uid or "" for n in nodes]

    report, seen = asyncio.run(run_with_sims(broker, ctx, nodes, uids))

    assert {u: "done" for u in uids} == outcomes(report)
    assert [NEW] * 3 == [n.fw_version for n in nodes]
    assert [NEW] * 3 == [ctx.registry.get_node(u).fw_version for u in uids]
    assert [(1, NEW)] * 3 == [(n.downloads, n.new_version) for n in report.nodes]
    commands = [json.loads(p) for t, p, _ in seen if t.count("/") == 3]
    assert {"cmd", "firmware_uid", "file_url", "checksum_sha256", "ttl_ms", "request_id"} <= set(
        commands[0]
    )
    assert fw.ota.id == commands[0]["firmware_uid"]
    audits = [ctx.registry.audit_log(node_uid=u)[0] for u in uids]
    assert [("ota.update", "ok")] * 3 == [(a["action"], a["outcome"]) for a in audits]
    for n in nodes:
        assert n.secret and n.secret not in caplog.text
    assert "sig=" not in caplog.text


def test_each_fault_is_reported_as_its_own_outcome(broker: Broker, tmp_path: Path) -> None:
    """Checksum error, OK then silence, rollback, a node that never answers and one that
    holds another secret end as checksum_error, silent_after_ok, rolled_back, no_answer and
    rejected; none is marked updated."""
    nodes = [
        sim_node(1, NodeFaults(ota_bad_checksum=True)),
        sim_node(2, NodeFaults(ota_no_return=True)),
        sim_node(3, NodeFaults(ota_rollback=True)),
        sim_node(5),
    ]
    absent = sim_node(4)  # registered, but not running
    ctx = make_home(tmp_path / "h", [*nodes, absent], broker)
    nodes[3].secret = "1" * 64  # the node holds another secret than the vault
    fw = import_firmwares(ctx, tmp_path / "b")
    assign(ctx, fw.ota, "ph")
    uids = ["nd-ota-1", "nd-ota-2", "nd-ota-3", "nd-ota-4", "nd-ota-5"]

    report, _ = asyncio.run(run_with_sims(broker, ctx, nodes, uids))

    expected = {
        "nd-ota-1": "checksum_error",
        "nd-ota-2": "silent_after_ok",
        "nd-ota-3": "rolled_back",
        "nd-ota-4": "no_answer",
        "nd-ota-5": "rejected",
    }
    assert expected == outcomes(report)
    assert OLD == next(n.new_version for n in report.nodes if n.node_uid == "nd-ota-3")
    assert [OLD] * 5 == [ctx.registry.get_node(u).fw_version for u in uids]
    assert ["failed"] * 5 == [ctx.registry.audit_log(node_uid=u)[0]["outcome"] for u in uids]


def test_expired_url_is_refused_by_the_server_and_the_node_reports_it(
    broker: Broker, tmp_path: Path
) -> None:
    """When the URL has expired by the time the node fetches it, the server answers 403,
    the node reports DOWNLOAD_FAILED, and the outcome says the download failed."""
    node = sim_node(1)
    ctx = make_home(tmp_path / "h", [node], broker)
    fw = import_firmwares(ctx, tmp_path / "b")
    assign(ctx, fw.ota, "ph")
    server = OtaServer("127.0.0.1", 0)
    server.url_for = _expiring(server)  # type: ignore[method-assign]

    async def scenario() -> OtaReport:
        with server:
            report, _ = await run_with_sims(broker, ctx, [node], ["nd-ota-1"], server=server)
        return report

    report = asyncio.run(scenario())
    assert "download_failed" == report.nodes[0].outcome
    assert "HTTP 403" in report.nodes[0].detail
    assert 1 == server.refused["expired"]
    assert OLD == node.fw_version


def _expiring(server: OtaServer) -> Any:
    """`url_for` that signs URLs already an hour past their expiry."""
    original = server.url_for

    def url_for(firmware_id: str, node_uid: str, ttl: float) -> tuple[str, int]:
        return original(firmware_id, node_uid, -3600.0)

    return url_for
