"""Malformed MQTT input: the service keeps running, counts it, and changes nothing else."""

import asyncio
import json
import random
from pathlib import Path

import aiomqtt
import pytest

from fleet.service.api import ControlApi
from fleet.service.liveness import State
from fleet.sim.broker import Broker
from fleet.sim.node.roster import make_nodes

from .conftest import make_home, running, settings_for, wait_until

pytestmark = pytest.mark.mqtt

BASE = "hydro/gh-1/zn-sim-0/nd-sim-0"
HANDMADE: list[tuple[str, bytes]] = [
    (f"{BASE}/heartbeat", b"not json"),
    (f"{BASE}/heartbeat", b"[1, 2, 3]"),
    (f"{BASE}/heartbeat", b'{"uptime": "long", "rssi": -50}'),
    (f"{BASE}/heartbeat", b'{"uptime": 5, "fw_version": 7}'),
    (f"{BASE}/heartbeat", b'{"uptime": true}'),
    (f"{BASE}/heartbeat", b'{"uptime": Infinity}'),
    (f"{BASE}/heartbeat", b'{"rssi": NaN}'),
    (f"{BASE}/heartbeat", b'{"free_heap": 1e400}'),
    (f"{BASE}/heartbeat", b"{" * 100_000),
    (f"{BASE}/heartbeat", b'{"pad": "' + b"x" * 300_000 + b'"'),
    (f"{BASE}/heartbeat", bytes(range(256))),
    (f"{BASE}/heartbeat", b"[" * 100_000 + b"]" * 100_000),
    (f"{BASE}/system/command_response", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    (f"{BASE}/heartbeat", b""),
    (f"{BASE}/status", b'{"status": "DANCING"}'),
    (f"{BASE}/status", b'{"ts": 5}'),
    (f"{BASE}/status", b'"ONLINE"'),
    (f"{BASE}/lwt", b"\xff\xfe\x00"),
    (f"{BASE}/lwt", b"maybe"),
    (f"{BASE}/lwt", b"x" * 5000),
    (f"{BASE}/config_report", b"[]"),
    (f"{BASE}/config_report", b'{"fw_version": ["a"]}'),
    (f"{BASE}/system/command_response", b'{"status": "DONE"}'),
    (f"{BASE}/system/command_response", b'{"cmd_id": "x", "status": "MAYBE"}'),
    (f"{BASE}/system/command_response", b'{"cmd_id": 5, "status": "DONE"}'),
    ("hydro/node_hello", b'{"message_type": "hello", "hardware_id": "esp32-aabbccddeeff"}'),
    ("hydro/node_hello", b'{"message_type": "node_hello"}'),
    ("hydro/node_hello", b'{"message_type": "node_hello", "hardware_id": "h", "capabilities": 3}'),
    ("hydro/time/request", b"now please"),
    ("hydro/time/request", b'{"message_type": "time_please"}'),
    ("hydro//zn-sim-0/nd-sim-0/heartbeat", b'{"uptime": 5}'),
    ("hydro/gh-1/zn-sim-0//status", b'{"status": "OFFLINE"}'),
    ("hydro/gh-1/zn-sim-0/nd-sim-1//command_response", b'{"cmd_id": "x", "status": "DONE"}'),
]
KINDS = ["heartbeat", "status", "config_report", "system/command_response"]


def random_messages(n: int, seed: int) -> list[tuple[str, bytes]]:
    """Random binary payloads on the subscribed topics (never valid JSON objects)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        try:
            if isinstance(json.loads(payload), dict):
                continue
        except ValueError:
            pass
        out.append((f"hydro/gh-1/zn-sim-0/nd-sim-{rng.randrange(3)}/{rng.choice(KINDS)}", payload))
    return out


def test_malformed_payloads_are_counted_and_change_nothing(broker: Broker, home: Path) -> None:
    """Non-JSON, wrong types, huge, binary and badly shaped topics: counted, nothing else."""
    nodes = make_nodes(3, gh_uid="gh-1")
    ctx = make_home(home, nodes)
    before_nodes = ctx.registry.list_nodes()
    before_audit = len(ctx.registry.audit_log())
    messages = HANDMADE + random_messages(300, seed=11)
    cfg = settings_for(broker, auto_reboot=False)

    async def scenario() -> tuple[int, dict[str, int], dict[State, int], dict[str, object]]:
        async with running(ctx, cfg) as svc:
            async with aiomqtt.Client(broker.host, broker.port) as client:
                for topic, payload in messages:
                    await client.publish(topic, payload, qos=1)
            d = svc.dispatcher
            await wait_until(lambda: d.total - d.counts["sys_uptime"] >= len(messages), 30)
            await asyncio.sleep(0.5)  # anything more would show now
            await svc.flush()
            malformed = sum(svc.dispatcher.malformed.values())
            counts = svc.liveness.counts()
            status = await ControlApi(svc).handle({"op": "status"})
            return malformed, dict(svc.dispatcher.malformed), counts, status

    malformed, by_kind, counts, status = asyncio.run(scenario())
    assert len(messages) == malformed
    assert {"heartbeat", "status", "lwt", "command_response", "node_hello"} <= set(by_kind)
    assert "internal" not in by_kind
    assert 3 == counts[State.UNKNOWN] and 3 == sum(counts.values())
    assert before_nodes == ctx.registry.list_nodes()
    assert before_audit == len(ctx.registry.audit_log())
    assert [] == ctx.registry.candidates()
    assert True is status["connected"]
