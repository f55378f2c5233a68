"""Benchmark: heartbeats/s through `fleet serve` next to a bare aiomqtt subscriber, then
100,000 nodes at a 15 s heartbeat held without a false OFFLINE, with the service's RSS.

    .venv/bin/python bench/liveness.py [--messages 50000] [--rounds 5] [--nodes 100000] [--hold 75]

One Mosquitto (started here, free loopback port) serves both runs; heartbeats come from
a separate paho process (bench/_heartbeat_pub.py), QoS 0. The service runs in this
process with a registry of the same node uids, its real settings path and hot path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
from sqlalchemy import insert

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.registry.models import NodeRow
from fleet.service.config import ServiceSettings
from fleet.service.liveness import State
from fleet.service.server import Service
from fleet.settings import Settings
from fleet.sim.broker import start_broker

PUB = Path(__file__).with_name("_heartbeat_pub.py")


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def publisher(*args: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PUB), *map(str, args)], stdout=subprocess.PIPE, text=True
    )


async def bare(host: str, port: int, nodes: int, total: int) -> float:
    """Messages/s a bare aiomqtt subscriber receives (a plain `async for` that counts)."""
    n, first, last = 0, 0.0, 0.0
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe("hydro/+/+/+/heartbeat", qos=0)
        proc = publisher("flood", host, port, nodes, total)

        async def count() -> None:
            nonlocal n, first, last
            async for _ in client.messages:
                n += 1
                last = time.monotonic()
                if n == 1:
                    first = last
                if n >= total:
                    break

        task = asyncio.create_task(count())
        seen = -1
        while not task.done() and seen != n:  # stop when 5 s pass without a message
            seen = n
            await asyncio.wait({task}, timeout=5)
        if not task.done():
            task.cancel()
        proc.wait()
    print(f"  bare aiomqtt: {n}/{total} received", file=sys.stderr)
    return (n - 1) / (last - first) if n > 1 and last > first else 0.0


def make_ctx(home: Path, nodes: int) -> FleetContext:
    settings = Settings.load(home, environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    rows = [
        {
            "uid": f"nd-b-{i}",
            "chip": "esp32",
            "node_type": "ph",
            "gh_uid": "gh-b",
            "zone_uid": f"zn-b{i // 1000}",
            "state": "UNKNOWN",
        }
        for i in range(nodes)
    ]
    with ctx.registry.session() as s:
        for k in range(0, nodes, 10000):
            s.execute(insert(NodeRow), rows[k : k + 10000])
    return ctx


async def through_service(
    ctx: FleetContext, broker_url: str, host: str, port: int, nodes: int, total: int, queue: int
) -> tuple[float, int]:
    """Heartbeats/s `fleet serve` handles; returns (rate, nodes ONLINE afterwards)."""
    cfg = ServiceSettings(
        broker=broker_url,
        metrics_port=0,
        auto_reboot=False,
        time_sync=False,
        max_queued_messages=queue,
    )
    svc = Service(ctx, cfg)
    task = asyncio.create_task(svc.run())
    await svc.connection.connected.wait()
    d = svc.dispatcher
    drops_before = svc.connection.drops.dropped
    proc = publisher("flood", host, port, nodes, total)
    first = last = 0.0
    seen = 0
    while seen < total:
        await asyncio.sleep(0.02)
        n = d.counts["heartbeat"]
        if n != seen:
            last = time.monotonic()
            if seen == 0:
                first = last - 0.02
            seen = n
        elif last and time.monotonic() - last > 5:
            break
    proc.wait()
    online = svc.liveness.counts()[State.ONLINE]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    dropped = svc.connection.drops.dropped - drops_before
    print(f"  fleet serve: {seen}/{total} handled, {dropped} dropped", file=sys.stderr)
    return (seen / (last - first) if last > first else 0.0), online


async def hold(
    ctx: FleetContext, broker_url: str, host: str, port: int, nodes: int, seconds: float
) -> dict[str, Any]:
    """`nodes` heartbeating every 15 s for `seconds`: OFFLINE nodes, lag, RSS."""
    cfg = ServiceSettings(
        broker=broker_url,
        metrics_port=0,
        auto_reboot=False,
        time_sync=False,
        stale_after=20,
        offline_after=30,
        restore_grace=5,
    )
    svc = Service(ctx, cfg)
    task = asyncio.create_task(svc.run())
    await svc.connection.connected.wait()
    proc = publisher("paced", host, port, nodes, 15, seconds)
    worst = 0
    while proc.poll() is None:
        await asyncio.sleep(1)
        worst = max(worst, svc.liveness.counts()[State.OFFLINE])
    sent = json.loads(proc.stdout.read() if proc.stdout else "{}")
    await asyncio.sleep(1)
    counts = svc.liveness.counts()
    rss, peak = rss_mb()  # before the audit query below adds its own objects
    offline_ever = sum(
        1
        for t in ctx.registry.audit_log(action="node.state", limit=10**6)
        if (t["detail"] or {}).get("to") == "OFFLINE"
    )
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {
        "sent": sent.get("sent"),
        "handled": svc.dispatcher.counts["heartbeat"],
        "online": counts[State.ONLINE],
        "offline_max": worst,
        "offline_audited": offline_ever,
        "rss_mb": round(rss),
        "peak_rss_mb": round(peak),
    }


def hold_child(home: Path, host: str, port: int, nodes: int, seconds: float) -> None:
    """The hold run in a fresh process, so that RSS is the service's own."""
    settings = Settings.load(home, environ={})
    ctx = FleetContext.open(settings=settings)
    base = rss_mb()[0]
    res = asyncio.run(hold(ctx, f"mqtt://{host}:{port}", host, port, nodes, seconds))
    res["base_rss_mb"] = round(base)
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--queue", type=int, default=50_000, help="the service's incoming bound")
    ap.add_argument("--hold", type=float, default=75.0, help="seconds of the 15 s hold run")
    ap.add_argument(
        "--hold-child", nargs=3, metavar=("HOME", "HOST", "PORT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.hold_child:
        home, host, port = args.hold_child
        hold_child(Path(home), host, int(port), args.nodes, args.hold)
        return
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        broker = start_broker(Path(tmp) / "mosquitto")
        try:
            home = Path(tmp) / "home"
            ctx = make_ctx(home, args.nodes)
            flood_nodes = min(args.nodes, 10_000)
            bares, fleets, online = [], [], 0
            for _ in range(args.rounds):  # alternate: the box is shared, rates drift
                bares.append(
                    asyncio.run(bare(broker.host, broker.port, flood_nodes, args.messages))
                )
                r, online = asyncio.run(
                    through_service(
                        ctx,
                        broker.url,
                        broker.host,
                        broker.port,
                        flood_nodes,
                        args.messages,
                        args.queue,
                    )
                )
                fleets.append(r)
            r_bare, r_fleet = statistics.median(bares), statistics.median(fleets)
            print(
                f"throughput ({args.messages} heartbeats over {flood_nodes} nodes, QoS 0, "
                f"median of {args.rounds} alternating rounds):"
            )
            print(f"  bare aiomqtt subscriber (baseline): {r_bare:,.0f} msg/s")
            print(f"  fleet serve (parse + liveness):     {r_fleet:,.0f} msg/s")
            print(
                f"  ratio: {r_fleet / r_bare if r_bare else 0:.2f}x  (goal >= 0.7x); "
                f"nodes ONLINE after: {online}/{flood_nodes}"
            )
            if args.hold > 0:
                child = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--nodes",
                        str(args.nodes),
                        "--hold",
                        str(args.hold),
                        "--hold-child",
                        str(home),
                        broker.host,
                        str(broker.port),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    check=True,
                )
                res = json.loads(child.stdout.strip().splitlines()[-1])
                need = args.nodes / 15
                print(
                    f"hold: {args.nodes} nodes at a 15 s heartbeat ({need:,.0f} msg/s) "
                    f"for {args.hold:g}s (stale 20 s, offline 30 s, grace 5 s)"
                )
                print(
                    f"  sent {res['sent']}, handled {res['handled']}, ONLINE at end {res['online']}"
                )
                print(
                    f"  OFFLINE (false) at any time: {res['offline_max']}, "
                    f"audited: {res['offline_audited']}"
                )
                print(
                    f"  service process RSS {res['rss_mb']} MB, peak {res['peak_rss_mb']} MB "
                    f"(before the service started: {res['base_rss_mb']} MB); goal < 500 MB"
                )
        finally:
            broker.close()


if __name__ == "__main__":
    main()
