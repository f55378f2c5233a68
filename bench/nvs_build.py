"""Benchmark: `fleet nvs build --all` over N nodes vs the generator's CLI run once per node.

Both are measured in the same run on the same NodeConfigs. The baseline is how the
generator's mass-manufacturing flow is used: one `python -m esp_idf_nvs_partition_gen
generate` process per node from a CSV. Running it for every node takes minutes, so by
default it runs for a sample (--cli-nodes) and its rate is reported per image.
The baseline's CSV files hold placeholder secrets of the same length (never real ones).

    .venv/bin/python bench/nvs_build.py [--nodes 1000] [--cli-nodes 40]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.nvs import escrow, site
from fleet.nvs.nodeconfig import read_nodeconfig
from fleet.nvs.parser import parse_partition
from fleet.nvs.rules import serialize
from fleet.registry import NodeSpec
from fleet.registry.importing import ImportRow, import_rows
from fleet.settings import Settings

TYPES = ("ph", "ec", "climate", "irrig", "light", "relay", "pump", "water_sensor", "recirculation")
FLEET = Path(sys.executable).parent / "fleet"


def _setup(home: Path, count: int) -> None:
    init_home(Settings.load(home, environ={}))
    ctx = FleetContext.open(settings=Settings.load(home, environ={}))
    for key, value in (
        ("wifi.ssid", "hydro-net"),
        ("wifi.pass", "bench-wifi-pass"),
        ("mqtt.host", "192.168.1.10"),
        ("mqtt.password", "bench-mqtt-pass"),
    ):
        site.set_value(ctx, key, value)
    rows = [
        ImportRow(
            NodeSpec(
                uid=f"nd-{TYPES[i % 9].replace('_', '-')}-{i}",
                gh_uid="gh-1",
                zone_uid=f"zn-{i % 12}",
                node_type=TYPES[i % 9],
                hardware_id=f"esp32-{i:012x}",
            ),
            None,
        )
        for i in range(count)
    ]
    import_rows(ctx.registry, ctx.vault, rows, "bench")
    ctx.registry.engine.dispose()


def _placeholder_secrets(config: dict) -> dict:
    """Same sizes, no real secret: what the baseline's CSV files may hold."""
    out = json.loads(json.dumps(config))
    out["node_secret"] = "0" * len(out["node_secret"])
    out["wifi"]["pass"] = "x" * len(out["wifi"]["pass"])
    out["mqtt"]["password"] = "x" * len(out["mqtt"]["password"])
    return out


def _cli_baseline(ctx: FleetContext, uids: list[str], work: Path) -> tuple[float, int]:
    configs = {uid: _placeholder_secrets(escrow.render_for_node(ctx, uid)) for uid in uids}
    start = time.perf_counter()
    for uid, config in configs.items():
        csv_path, out = work / f"{uid}.csv", work / f"{uid}.bin"
        with csv_path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(
                [
                    ["key", "type", "encoding", "value"],
                    ["node_config", "namespace", "", ""],
                    ["config", "data", "string", serialize(config)],
                ]
            )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "esp_idf_nvs_partition_gen",
                "generate",
                str(csv_path),
                str(out),
                "0x6000",
                "--outdir",
                str(work),
            ],
            check=True,
            capture_output=True,
        )
    seconds = time.perf_counter() - start
    same = sum(read_nodeconfig((work / f"{uid}.bin").read_bytes()) == configs[uid] for uid in uids)
    return seconds, same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--cli-nodes", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-nvs-bench-") as tmp:
        home = Path(tmp) / "home"
        _setup(home, args.nodes)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
        start = time.perf_counter()
        r = subprocess.run(
            [str(FLEET), "--home", str(home), "nvs", "build", "--all", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        cli_wall = time.perf_counter() - start
        result = json.loads(r.stdout)
        ctx = FleetContext.open(settings=Settings.load(home, environ={}))
        sample = [n.uid for n in ctx.registry.list_nodes()][: args.cli_nodes]
        work = Path(tmp) / "cli"
        work.mkdir()
        base_s, same = _cli_baseline(ctx, sample, work)
        ok = all(parse_partition(escrow.image_for_node(ctx, uid, False)).ok for uid in sample)
        ctx.registry.engine.dispose()
    ours_rate = result["built"] / cli_wall
    base_rate = len(sample) / base_s
    print(f"nodes                         {args.nodes}")
    print(
        f"fleet nvs build --all         {result['built']} images escrowed in {cli_wall:.2f} s "
        f"wall (process start included) = {ours_rate:.0f} images/s; "
        f"build loop alone {result['seconds']:.2f} s = {result['images_per_second']:.0f}/s"
    )
    print(
        f"generator CLI, once per node  {len(sample)} images in {base_s:.2f} s = "
        f"{base_rate:.1f} images/s (same run, same NodeConfigs)"
    )
    print(
        f"speed-up                      {ours_rate / base_rate:.0f}x (goal >= 50x); "
        f"1,000-node time {args.nodes / ours_rate:.2f} s (goal < 5 s)"
    )
    print(
        f"check                         {same}/{len(sample)} CLI images hold the same "
        f"NodeConfig; escrowed sample parses cleanly: {ok}"
    )


if __name__ == "__main__":
    main()
