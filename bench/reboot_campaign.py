"""Benchmark: a reboot campaign over 5,000 simulated nodes after a broker restart.

    .venv/bin/python bench/reboot_campaign.py [--nodes 5000] [--rate 100] [--grace 2]

Mosquitto (free loopback port) is killed and restarted; `fleet serve` (in this process)
detects the restore, waits the grace, sends a signed reboot to every node at `--rate`
nodes/s and follows each one until it is back. The simulated nodes (fleet.sim, hydro 2.0
firmware behaviour) run in a separate process. Prints the time from the broker being back
to the last node confirmed back, next to the floor the settings impose (grace + N/rate).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.registry.models import NodeRow
from fleet.service.campaign_store import FINISHED
from fleet.service.config import ServiceSettings
from fleet.service.liveness import State
from fleet.service.server import Service
from fleet.settings import Settings
from fleet.sim.broker import start_broker

SIM = """
import asyncio, hashlib, sys
from fleet.sim.node.roster import make_nodes
from fleet.sim.node.simulator import NodeSimulator, SimOptions
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
secret = lambda uid: hashlib.sha256(b"bench:" + uid.encode()).hexdigest()
nodes = make_nodes(n, gh_uid="gh-1", zone_size=100, secret_for=secret)
opts = SimOptions(heartbeat_interval=15.0, nodes_per_connection=500, reconnect_delay=1.0,
                  startup_spread=2.0)
async def main():
    async with NodeSimulator(host, port, nodes, opts) as sim:
        print("up", flush=True)
        await sim.run_forever()
asyncio.run(main())
"""


def secret(uid: str) -> str:
    return hashlib.sha256(b"bench:" + uid.encode()).hexdigest()


def make_ctx(home: Path, n: int) -> FleetContext:
    settings = Settings.load(home, environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    rows = [
        {
            "uid": f"nd-sim-{i}",
            "chip": "esp32",
            "node_type": "ph",
            "gh_uid": "gh-1",
            "zone_uid": f"zn-sim-{i // 100}",
            "state": "UNKNOWN",
        }
        for i in range(n)
    ]
    with ctx.registry.session() as s:
        s.execute(insert(NodeRow), rows)
    for r in rows:
        ctx.vault.set_node_secret(r["uid"], secret(r["uid"]))
    return ctx


async def run(ctx: FleetContext, broker: object, args: argparse.Namespace) -> None:
    from fleet.sim.broker import Broker

    assert isinstance(broker, Broker)
    cfg = ServiceSettings(
        broker=broker.url,
        metrics_port=0,
        restore_outage=1.0,
        restore_grace=args.grace,
        reboot_rate=args.rate,
        command_timeout=15,
        reboot_back_timeout=60,
        command_rate_global=max(200.0, args.rate * 2),
    )
    svc = Service(ctx, cfg)
    task = asyncio.create_task(svc.run())
    sim = subprocess.Popen(
        [sys.executable, "-c", SIM, broker.host, str(broker.port), str(args.nodes)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while svc.liveness.counts()[State.ONLINE] < args.nodes:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {svc.liveness.counts()[State.ONLINE]} nodes ONLINE")
            await asyncio.sleep(0.5)
        print(f"{args.nodes} nodes ONLINE; killing and restarting the broker", file=sys.stderr)
        await asyncio.to_thread(broker.restart, hard=True, downtime=2.0)
        back = time.time()
        while not svc.campaigns:
            await asyncio.sleep(0.1)
        c = next(iter(svc.campaigns.values()))
        while c.state != FINISHED:
            await asyncio.sleep(0.5)
        last = max((t.back_at or 0.0) for t in c.targets.values())
        counts = c.report().counts()
        floor = args.grace + args.nodes / args.rate
        print(f"reboot campaign: {args.nodes} nodes at {args.rate:g}/s, grace {args.grace:g}s")
        print(f"  report: {counts}")
        print(f"  broker back -> last node confirmed back: {last - back:.1f} s")
        print(f"  floor set by the settings (grace + N/rate): {floor:.1f} s")
        print(f"  overhead over the floor: {last - back - floor:.1f} s")
    finally:
        sim.terminate()
        sim.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--grace", type=float, default=2.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        broker = start_broker(Path(tmp) / "mosquitto", sys_interval=1)
        try:
            t = time.monotonic()
            ctx = make_ctx(Path(tmp) / "home", args.nodes)
            print(f"registry ready in {time.monotonic() - t:.1f}s", file=sys.stderr)
            asyncio.run(run(ctx, broker, args))
        finally:
            broker.close()


if __name__ == "__main__":
    main()
