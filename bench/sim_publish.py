"""How fast the node simulator publishes, and whether it holds 100,000 nodes at 15 s.

Part 1, per-message cost (same broker, same run): heartbeat publishes (QoS 1) through the
simulator's lean MQTT client vs through aiomqtt (the baseline).
Part 2, scale: N simulated nodes (default 100,000) at a 15 s heartbeat for a steady window,
with a bare aiomqtt subscriber in another process counting what arrives. Prints the
simulator's heartbeats/s, the subscriber's, the target N/interval, CPU and RSS.

    .venv/bin/python bench/sim_publish.py [--nodes 100000] [--interval 15] [--steady 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time

import aiomqtt

from fleet.sim.broker import Broker, start_broker
from fleet.sim.node.roster import make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions
from fleet.sim.node.wire import MqttConnection

PAYLOAD = b'{"uptime":123,"free_heap":170000,"rssi":-55,"fw_version":"2.0.0-sim"}'


async def per_message(b: Broker, count: int) -> tuple[float, float]:
    """us per publish: lean client, aiomqtt."""
    lean = await MqttConnection.open(b.host, b.port, "bench-lean")
    t0 = time.perf_counter()
    for i in range(count):
        lean.publish(f"hydro/gh-b/zn-b/nd-{i % 1000}/heartbeat", PAYLOAD, qos=1)
        if i % 256 == 0:
            await lean.drain()
    await lean.disconnect()
    lean_us = (time.perf_counter() - t0) / count * 1e6
    async with aiomqtt.Client(b.host, b.port, identifier="bench-aiomqtt") as client:
        t0 = time.perf_counter()
        for i in range(count):
            await client.publish(f"hydro/gh-b/zn-b/nd-{i % 1000}/heartbeat", PAYLOAD, qos=1)
        aio_us = (time.perf_counter() - t0) / count * 1e6
    return lean_us, aio_us


SUBSCRIBER = """
import asyncio, json, sys
from fleet.sim.bare_subscriber import count_messages
c = asyncio.run(count_messages(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
print(json.dumps({"received": c.received, "seconds": c.seconds, "rate": c.rate}))
"""


async def scale(b: Broker, nodes: int, interval: float, steady: float) -> dict[str, float]:
    sim_nodes = make_nodes(nodes, zone_size=500)
    opts = SimOptions(heartbeat_interval=interval, startup_spread=interval, time_retry=3600)
    sim = NodeSimulator(b.host, b.port, sim_nodes, opts)
    await sim.start(timeout=120)
    async with aiomqtt.Client(b.host, b.port, identifier="bench-time") as c:
        now = int(time.time())
        body = {"message_type": "time_response", "unix_ts": now, "server_time": now}
        await c.publish("hydro/time/response", json.dumps(body), qos=1)
    await asyncio.sleep(interval)  # let every node pass its first steady beat
    sub = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SUBSCRIBER,
        b.host,
        str(b.port),
        str(steady),
        stdout=subprocess.PIPE,
    )
    beats0, cpu0, t0 = sim.stats.heartbeats, time.process_time(), time.monotonic()
    out, _ = await sub.communicate()
    beats1, cpu1, t1 = sim.stats.heartbeats, time.process_time(), time.monotonic()
    await sim.stop()
    got = json.loads(out)
    return {
        "sim_rate": (beats1 - beats0) / (t1 - t0),
        "sub_rate": got["rate"],
        "target": nodes / interval,
        "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "connected": sim.connected(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--steady", type=float, default=30.0)
    ap.add_argument("--messages", type=int, default=20_000)
    args = ap.parse_args()
    with start_broker(max_queued_messages=100_000) as b:
        lean_us, aio_us = asyncio.run(per_message(b, args.messages))
        print(f"publish cost: lean client {lean_us:.1f} us/msg; aiomqtt (baseline) {aio_us:.1f}")
        r = asyncio.run(scale(b, args.nodes, args.interval, args.steady))
    print(
        f"{args.nodes} nodes @ {args.interval:g} s: simulator {r['sim_rate']:.0f} heartbeats/s, "
        f"bare aiomqtt subscriber received {r['sub_rate']:.0f}/s (target {r['target']:.0f}/s); "
        f"simulator CPU {r['cpu_pct']:.0f}% of a core, peak RSS {r['rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
