"""Benchmark of `fleet recover nodes`: a whole fleet re-registered under the backend's limits.

The backend double enforces the upstream limits (120 requests per IP and 10 per identity in
any sliding minute) with the minute scaled down by `--factor` (30: a 2 s window). Measured in
the same run, against fresh doubles with the same limits:

- figure: the campaign (`reregister`, the library behind the CLI) over N registered nodes:
  wall time, requests, 429s, the span from its first to its last request; once with the
  pacing slack scaled like the window (2 %, as a real minute gets) and once with the
  default slack (>= 0.25 s, proportionally 6x larger in a 2 s window);
- baseline: a naive client (same 4 connections, no pacing, waits Retry-After on a 429 and
  retries) over the same N identities: wall time and how many 429s it provoked;
- raw: the naive client against a double without limits (what HTTP itself costs).

The floor is set by the per-IP limit: N requests need at least ceil(N/120) - 1 windows
(a full batch per window, the first at once); the seed's "ceil(N/120) minutes" is one more.

Run: `.venv/bin/python bench/reregister.py [--nodes 1000] [--factor 30]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from pathlib import Path

import httpx

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.nvs.site import set_value
from fleet.registry import NodeSpec
from fleet.registry.importing import ImportRow, import_rows
from fleet.reregister.pacing import safe_rate
from fleet.reregister.run import reregister
from fleet.reregister.settings import BackendSettings
from fleet.settings import Settings
from fleet.sim.backend import REGISTER_PATH, BackendDouble

TOKEN = "bench-token"


def make_home(root: Path, n: int) -> FleetContext:
    """A data directory with site values and `n` nodes (secrets generated)."""
    settings = Settings.load(root / "home", environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    for key, value in (
        ("wifi.ssid", "hydro"),
        ("wifi.pass", "pw-123456"),
        ("mqtt.host", "10.0.0.1"),
    ):
        set_value(ctx, key, value)
    rows = [
        ImportRow(
            NodeSpec(
                uid=f"nd-ph-{i}",
                gh_uid="gh-1",
                zone_uid="zn-1",
                node_type="ph",
                hardware_id=f"esp32-{0xB0_0000_0000 + i:012x}",
            ),
            None,
        )
        for i in range(n)
    ]
    import_rows(ctx.registry, ctx.vault, rows, "bench")
    return ctx


def campaign(ctx: FleetContext, n: int, window: float, slack: float | None) -> dict[str, float]:
    """The figure: our campaign against a double whose rows hold the vault's secrets."""
    with BackendDouble(TOKEN, window=window) as double:
        for node in ctx.registry.list_nodes():
            double.preseed(node.uid, node.hardware_id, ctx.vault.node_secret(node.uid))
        cfg = BackendSettings(url=double.url, window_seconds=window, pacing_slack=slack)
        start = time.monotonic()
        report = reregister(ctx, cfg, TOKEN, fresh=True)
        wall = time.monotonic() - start
        log = double.log
        assert len(report.registered) == n, report.failed
        return {
            "wall_s": round(wall, 2),
            "request_span_s": round(log[-1].at - log[0].at, 2),
            "requests": report.requests,
            "429s": report.throttled,
            "double_429s": double.statuses().get(429, 0),
        }


async def _naive(url: str, n: int, conns: int = 4) -> tuple[int, int]:
    """Register n identities as fast as possible, honouring Retry-After; (requests, 429s)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    counts = [0, 0]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {"node_uid": f"nd-ph-{i}", "hardware_id": f"esp32-{0xB0_0000_0000 + i:012x}"}
                while True:
                    counts[0] += 1
                    r = await client.post(REGISTER_PATH, json=body)
                    if r.status_code != 429:
                        break
                    counts[1] += 1
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))

        await asyncio.gather(*(worker() for _ in range(conns)))
    return counts[0], counts[1]


def naive(n: int, window: float, limited: bool) -> dict[str, float]:
    """The baseline (limits on) or the raw HTTP cost (limits off)."""
    per_ip, per_id = (120, 10) if limited else (10**9, 10**9)
    with BackendDouble(TOKEN, per_identity=per_id, per_ip=per_ip, window=window) as double:
        start = time.monotonic()
        requests, throttled = asyncio.run(_naive(double.url, n))
        return {
            "wall_s": round(time.monotonic() - start, 2),
            "requests": requests,
            "429s": throttled,
        }


def main() -> None:
    """Run the three measurements and print them with the floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--factor", type=float, default=30.0, help="minute / window")
    args = parser.parse_args()
    window = 60.0 / args.factor
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_home(Path(tmp), args.nodes)
        try:
            # pacing slack scaled like the window (2 %: what a real minute gets), then the
            # default (at least 0.25 s: 12.5 % of a 2 s window, far more than a minute's share)
            scaled = campaign(ctx, args.nodes, window, 0.02 * window)
            default = campaign(ctx, args.nodes, window, None)
        finally:
            ctx.registry.engine.dispose()
    baseline = naive(args.nodes, window, limited=True)
    raw = naive(args.nodes, window, limited=False)
    windows = math.ceil(args.nodes / 120)
    result = {
        "nodes": args.nodes,
        "window_s": window,
        "floor_s": (windows - 1) * window,
        "seed_target_s": windows * window,
        "campaign_scaled_slack": scaled,
        "campaign_default_slack": default,
        "baseline_naive_retry_after": baseline,
        "raw_http_no_limits": raw,
        "campaign_scaled_in_real_minutes": round(scaled["wall_s"] * args.factor / 60, 2),
        "pacing_at_real_scale_minutes": round(args.nodes / safe_rate(120, 60.0) / 60, 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
