"""Simulated nodes on a real Mosquitto behave like hydro 2.0 firmware, seen from outside."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import replace
from typing import Any

import pytest

from fleet.sim.broker import Broker
from fleet.sim.node.firmware import NodeFaults, SimNode
from fleet.sim.node.roster import make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions
from fleet.sim.observer import Observer

pytestmark = pytest.mark.mqtt

FAST = SimOptions(
    heartbeat_interval=0.3, restart_after=0.1, boot_time=0.1, reconnect_delay=0.2, time_retry=0.5
)
PER_NODE = replace(FAST, per_node_connections=True)


def signed(secret: str, cmd: str, cmd_id: str, ts: int | None = None) -> str:
    """A command signed here, independently of fleet.protocol."""
    body: dict[str, Any] = {"cmd": cmd, "cmd_id": cmd_id, "params": {}}
    body["ts"] = int(time.time()) if ts is None else ts
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    body["sig"] = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return json.dumps(body)


def response(obs: Observer, n: SimNode, cmd_id: str) -> Any:
    topic = f"{n.base_topic}/system/command_response"
    for raw in obs.matching(topic):
        body = json.loads(raw)
        if body.get("cmd_id") == cmd_id:
            return body
    return None


async def command(obs: Observer, n: SimNode, payload: str, cmd_id: str) -> dict[str, Any]:
    await obs.publish(f"{n.base_topic}/system/command", payload)
    got: dict[str, Any] = await obs.wait_for(
        lambda: response(obs, n, cmd_id), what=f"answer to {cmd_id}"
    )
    return got


def test_connect_announces_like_the_firmware(broker: Broker) -> None:
    """On connect: retained status ONLINE, config_report, time_request, heartbeats; hello
    only from the unbound node."""

    async def scenario() -> None:
        nodes = make_nodes(2, unbound=1)
        bound, unbound = nodes[0], nodes[2]
        async with Observer(broker) as obs, NodeSimulator(broker.host, broker.port, nodes, FAST):
            await obs.wait_for(
                lambda: len(obs.matching(bound.topic("heartbeat"))) >= 3, what="3 heartbeats"
            )
            status = json.loads(obs.matching(bound.topic("status"))[0])
            report = json.loads(obs.matching(bound.topic("config_report"))[0])
            beat = json.loads(obs.matching(bound.topic("heartbeat"))[0])
            hellos = [json.loads(p) for p in obs.matching("hydro/node_hello")]
            requests = [json.loads(p) for p in obs.matching("hydro/time/request")]
        assert "ONLINE" == status["status"]
        assert ("nd-sim-0", "2.0.0-sim") == (report["node_id"], report["fw_version"])
        assert {"uptime", "free_heap", "rssi", "fw_version"} == set(beat)
        assert [unbound.hardware_id] == [h["hardware_id"] for h in hellos]
        assert {"time_request"} == {r["message_type"] for r in requests}
        assert unbound.topic("status").startswith("hydro/gh-temp/zn-temp/esp32-")

    asyncio.run(scenario())


def test_status_is_retained_for_late_subscribers(broker: Broker) -> None:
    """A client subscribing after the node connected still gets its ONLINE status."""

    async def scenario() -> None:
        (n,) = make_nodes(1)
        async with (
            NodeSimulator(broker.host, broker.port, [n], FAST),
            Observer(broker, (n.topic("status"),)) as obs,
        ):
            await obs.wait_for(lambda: obs.messages, what="retained status")
            assert True is obs.messages[0][2]

    asyncio.run(scenario())


def test_commands_are_refused_until_time_sync_then_checked(broker: Broker) -> None:
    """Over MQTT: time_not_synced first; after a time response, bad sig and stale ts are
    refused with the firmware codes and a good reboot is DONE."""

    async def scenario() -> None:
        (n,) = make_nodes(1)
        secret = n.secret or ""
        async with Observer(broker) as obs, NodeSimulator(broker.host, broker.port, [n], FAST):
            early = await command(obs, n, signed(secret, "reboot", "a1"), "a1")
            await obs.answer_time()
            await obs.wait_for(lambda: n.time_synced, what="time sync")
            bad_sig = await command(obs, n, signed("f" * 64, "reboot", "a2"), "a2")
            stale = await command(
                obs, n, signed(secret, "reboot", "a3", int(time.time()) - 60), "a3"
            )
            good = await command(obs, n, signed(secret, "reboot", "a4"), "a4")
        assert ("ERROR", "time_not_synced") == (early["status"], early["error_code"])
        assert ("ERROR", "invalid_signature") == (bad_sig["status"], bad_sig["error_code"])
        assert ("ERROR", "timestamp_expired") == (stale["status"], stale["error_code"])
        assert ("DONE", None) == (good["status"], good.get("error_code"))
        assert isinstance(good["ts"], int) and good["ts"] > 10**12  # milliseconds

    asyncio.run(scenario())


def test_reboot_with_own_connection_fires_lwt_then_comes_back(broker: Broker) -> None:
    """Per-node connection: DONE, then the broker publishes lwt `offline`, then the node
    reconnects with a fresh status, config_report and time request, uptime from zero."""

    async def scenario() -> None:
        (n,) = make_nodes(1)
        async with Observer(broker) as obs, NodeSimulator(broker.host, broker.port, [n], PER_NODE):
            await obs.answer_time()
            await obs.wait_for(lambda: n.time_synced, what="time sync")
            reports_before = len(obs.matching(n.topic("config_report")))
            await command(obs, n, signed(n.secret or "", "reboot", "r1"), "r1")
            lwt = await obs.next_on(n.topic("lwt"))
            await obs.wait_for(
                lambda: len(obs.matching(n.topic("status"))) >= 2, what="second status"
            )
            await obs.wait_for(
                lambda: len(obs.matching(n.topic("config_report"))) > reports_before,
                what="config_report after reboot",
            )
        assert (b"offline", False) == (lwt, n.time_synced)  # fresh boot: time to re-sync

    asyncio.run(scenario())


def test_faulty_nodes_drop_or_never_return(broker: Broker) -> None:
    """A dropping node never answers; a no-return node answers DONE, fires its will and
    stays away, while a healthy node comes back."""

    async def scenario() -> None:
        healthy, dropper, gone = make_nodes(3)
        dropper.faults = NodeFaults(drop_commands=True)
        gone.faults = NodeFaults(no_return_after_reboot=True)
        nodes = [healthy, dropper, gone]
        async with (
            Observer(broker) as obs,
            NodeSimulator(broker.host, broker.port, nodes, PER_NODE) as sim,
        ):
            await obs.answer_time()
            await obs.wait_for(lambda: all(x.time_synced for x in nodes), what="time sync")
            for x in nodes:
                await obs.publish(
                    f"{x.base_topic}/system/command", signed(x.secret or "", "reboot", "f1")
                )
            await obs.wait_for(lambda: response(obs, gone, "f1"), what="no-return DONE")
            await obs.next_on(gone.topic("lwt"))
            await obs.wait_for(lambda: len(obs.matching(healthy.topic("status"))) >= 2, what="back")
            statuses_gone = len(obs.matching(gone.topic("status")))
            # the healthy node has rebooted and announced again; give the other one as long
            await asyncio.sleep(FAST.boot_time + FAST.reconnect_delay * 2)
            assert (None, 1, False) == (
                response(obs, dropper, "f1"),
                statuses_gone,
                sim.is_up(gone.key),
            )
            assert 1 == sim.stats.dropped_commands

    asyncio.run(scenario())


def test_nodes_reconnect_after_broker_restart(broker: Broker) -> None:
    """After kill -9 and a restart on the same port, shared-connection nodes come back and
    republish status and config_report."""

    async def scenario() -> None:
        nodes = make_nodes(20)
        opts = replace(FAST, nodes_per_connection=8)
        async with NodeSimulator(broker.host, broker.port, nodes, opts) as sim:
            connects = sim.stats.connects
            broker.restart(hard=True)
            async with Observer(broker) as obs:
                await obs.wait_for(
                    lambda: all(obs.count[x.topic("config_report")] for x in nodes),
                    timeout=10,
                    what="every node re-announced",
                )
            assert (3, 6) == (connects, sim.stats.connects)

    asyncio.run(scenario())


def test_many_nodes_share_few_connections(broker: Broker) -> None:
    """300 nodes over 3 connections all announce and heartbeat; a rebooted one re-announces
    without an lwt (one will per connection)."""

    async def scenario() -> None:
        nodes = make_nodes(300)
        opts = replace(FAST, nodes_per_connection=100)
        async with (
            Observer(broker) as obs,
            NodeSimulator(broker.host, broker.port, nodes, opts) as sim,
        ):
            await obs.wait_for(
                lambda: all(obs.count[x.topic("heartbeat")] for x in nodes),
                what="a heartbeat from each of 300 nodes",
            )
            await obs.answer_time()
            target = nodes[123]
            await obs.wait_for(lambda: target.time_synced, what="time sync")
            await command(obs, target, signed(target.secret or "", "reboot", "s1"), "s1")
            await obs.wait_for(lambda: len(obs.matching(target.topic("status"))) >= 2, what="back")
            assert (3, [], 1) == (
                len(sim.groups),
                obs.matching(target.topic("lwt")),
                sim.stats.reboots,
            )

    asyncio.run(scenario())


def test_slow_node_answers_after_a_healthy_one(broker: Broker) -> None:
    """A slow node's answer arrives, and only after a healthy node's answer to a command
    sent later."""

    async def scenario() -> list[str]:
        slow, healthy = make_nodes(2)
        slow.faults = NodeFaults(slow_response_s=1.0)
        async with (
            Observer(broker) as obs,
            NodeSimulator(broker.host, broker.port, [slow, healthy], FAST),
        ):
            await obs.answer_time()
            await obs.wait_for(lambda: slow.time_synced and healthy.time_synced, what="sync")
            await obs.publish(
                f"{slow.base_topic}/system/command",
                signed(slow.secret or "", "report_config", "w1"),
            )
            await obs.publish(
                f"{healthy.base_topic}/system/command",
                signed(healthy.secret or "", "report_config", "w2"),
            )
            await obs.wait_for(lambda: response(obs, slow, "w1"), what="slow answer")
            return [
                json.loads(p)["cmd_id"]
                for t, p, _ in obs.messages
                if t.endswith("command_response")
            ]

    assert ["w2", "w1"] == asyncio.run(scenario())


def test_config_push_binds_an_unbound_node_over_mqtt(broker: Broker) -> None:
    """An unbound node given a NodeConfig on its temp config topic starts publishing in its
    real namespace and stops sending hello."""

    async def scenario() -> None:
        (n,) = make_nodes(0, unbound=1)
        cfg = {"node_id": "nd-ph-77", "gh_uid": "gh-1", "zone_uid": "zn-2", "node_secret": "a" * 64}
        async with Observer(broker) as obs, NodeSimulator(broker.host, broker.port, [n], FAST):
            await obs.wait_for(lambda: obs.matching("hydro/node_hello"), what="hello")
            await obs.publish(f"hydro/gh-temp/zn-temp/{n.hardware_id}/config", json.dumps(cfg))
            report = await obs.next_on("hydro/gh-1/zn-2/nd-ph-77/config_report")
            await obs.next_on("hydro/gh-1/zn-2/nd-ph-77/heartbeat")
            assert ("nd-ph-77", 1) == (
                json.loads(report)["node_id"],
                len(obs.matching("hydro/node_hello")),
            )

    asyncio.run(scenario())


def test_silenced_node_stops_heartbeats_and_keeps_its_connection(broker: Broker) -> None:
    """silence() stops one node's heartbeats while the others go on and no will fires."""

    async def scenario() -> None:
        quiet, loud = make_nodes(2)
        async with (
            Observer(broker) as obs,
            NodeSimulator(broker.host, broker.port, [quiet, loud], PER_NODE) as sim,
        ):
            await obs.wait_for(lambda: obs.matching(quiet.topic("heartbeat")), what="first beat")
            sim.silence(quiet.key)
            before = len(obs.matching(quiet.topic("heartbeat")))
            loud_before = len(obs.matching(loud.topic("heartbeat")))
            await obs.wait_for(
                lambda: len(obs.matching(loud.topic("heartbeat"))) >= loud_before + 3,
                what="three more beats of the other node",
            )
            assert (before, []) == (
                len(obs.matching(quiet.topic("heartbeat"))),
                obs.matching(quiet.topic("lwt")),
            )

    asyncio.run(scenario())


def test_bare_subscriber_counts_every_heartbeat(broker: Broker) -> None:
    """The benchmark baseline counts exactly the heartbeats published while it listens."""
    from fleet.sim.bare_subscriber import count_messages
    from fleet.sim.node.wire import MqttConnection

    async def scenario() -> int:
        ready = asyncio.Event()
        counting = asyncio.create_task(count_messages(broker.host, broker.port, 1.5, ready=ready))
        await ready.wait()
        pub = await MqttConnection.open(broker.host, broker.port, "bench-pub")
        for i in range(500):
            pub.publish(f"hydro/gh-1/zn-1/nd-{i}/heartbeat", b"{}", qos=1)
            pub.publish(f"hydro/gh-1/zn-1/nd-{i}/status", b"{}", qos=1)
        await pub.disconnect()
        return (await counting).received

    assert 500 == asyncio.run(scenario())


def test_graceful_stop_fires_no_will_and_abrupt_stop_fires_all(broker: Broker) -> None:
    """Per-node connections: stop() sends DISCONNECT (no lwt); stop(graceful=False) drops
    the sockets and the broker publishes every node's will."""

    async def scenario() -> tuple[int, int]:
        first, second = make_nodes(3), make_nodes(3, gh_uid="gh-other", tag=1)
        async with Observer(broker, ("hydro/+/+/+/lwt",)) as obs:
            sim = NodeSimulator(broker.host, broker.port, first, PER_NODE)
            await sim.start()
            await sim.stop()
            sim2 = NodeSimulator(broker.host, broker.port, second, PER_NODE)
            await sim2.start()
            await sim2.stop(graceful=False)
            await obs.wait_for(lambda: len(obs.messages) >= 3, what="three wills")
            wills_first = sum(obs.count[n.topic("lwt")] for n in first)
            return wills_first, sum(obs.count[n.topic("lwt")] for n in second)

    assert (0, 3) == asyncio.run(scenario())
