"""Benchmark of USB flashing against virtual ESP32 boards paced at a real baud rate.

(a) full flash of a 1.5 MB app (firmware-like content, deflates to ~65 %) + NVS with
    `fleet flash`, against the stock `esptool write-flash -z` CLI doing the same writes
    (goal: within 1.1x);
(b) reflash of that node with the app unchanged and its NVS changed (goal: >= 10x faster
    than (a));
(c) 8 boards flashed in parallel, one worker process per port as the station does,
    against one board alone with the same worker (goal: aggregate >= 6x one board).

Each board is served by its own `fleet sim esp32` process (stopped by PID at the end).
Run: `.venv/bin/python bench/flash.py [--app-size N] [--baud B] [--parallel N]`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fleet.context import FleetContext
from fleet.firmware.store import FirmwareStore
from fleet.home import init_home
from fleet.nvs.escrow import build_for_node, image_for_node
from fleet.nvs.site import set_value
from fleet.registry import NodeSpec
from fleet.registry.importing import ImportRow, import_rows
from fleet.settings import Settings
from fleet.sim.esp32.process import spawn_board
from fleet.sim.firmware_gen import write_bundle

FLEET = [sys.executable, "-c", "from fleet.cli.main import main; main()"]
ESPTOOL = [sys.executable, "-m", "esptool"]


def mac(i: int) -> str:
    return f"24:0a:c4:00:10:{i:02x}"


def start_board(i: int, baud: int) -> tuple[subprocess.Popen[str], str]:
    """One virtual board in its own process; returns (process, socket URL)."""
    return spawn_board(mac(i), baud_pace=baud)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def _worker(home: str, uid: str, url: str, baud: int, go: Any, out: Any) -> None:
    ctx = FleetContext.open(settings=Settings.load(home, environ={}))
    from fleet.flashing.flasher import flash_node

    go.wait()
    start = time.perf_counter()
    result = flash_node(ctx, uid, url, baud=baud)
    out.put((uid, start, time.perf_counter(), result.bytes_written))


def parallel(home: Path, jobs: list[tuple[str, str]], baud: int) -> tuple[float, int]:
    """Flash `jobs` (uid, url) with one process each; (wall seconds, bytes written)."""
    spawn = mp.get_context("spawn")
    go, out = spawn.Event(), spawn.Queue()
    procs = [
        spawn.Process(target=_worker, args=(str(home), uid, url, baud, go, out))
        for uid, url in jobs
    ]
    for p in procs:
        p.start()
    time.sleep(3.0)  # let every worker import and open the registry before the clock starts
    go.set()
    rows = [out.get(timeout=600) for _ in jobs]
    for p in procs:
        p.join()
    wall = max(r[2] for r in rows) - min(r[1] for r in rows)
    return wall, sum(r[3] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app-size", type=int, default=1_500_000)
    ap.add_argument("--baud", type=int, default=921600)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2, help="runs of (a) and (b); best is kept")
    args = ap.parse_args()
    r = args.repeat

    tmp = Path(tempfile.mkdtemp(prefix="bench-flash-"))
    home = tmp / "home"
    settings = Settings.load(home, environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    n_boards = 3 * r + args.parallel
    rows = [
        ImportRow(NodeSpec(f"nd-ph-{i}", "gh-1", "zn-1", "ph", mac=mac(i)), None)
        for i in range(n_boards)
    ]
    import_rows(ctx.registry, ctx.vault, rows, source="bench")
    for key, value in [("wifi.ssid", "farm"), ("wifi.pass", "pw-1"), ("mqtt.host", "10.0.0.2")]:
        set_value(ctx, key, value)
    ctx = FleetContext.open(settings=Settings.load(home, environ={}))
    bundle = write_bundle(tmp / "fw", "esp32", app_size=args.app_size)
    store = FirmwareStore(ctx.registry, ctx.home)
    entry, _ = store.import_bundle(bundle.path)
    store.assign(entry.id, node_type="ph")
    _, fw = store.load(entry.id)
    for i in range(n_boards):
        image_for_node(ctx, f"nd-ph-{i}")
    nvs_part = fw.partition_table.nvs
    assert nvs_part is not None
    files = [(f.offset, tmp / f"{f.role}.bin") for f in fw.files]
    for f, (_, path) in zip(fw.files, files, strict=True):
        path.write_bytes(f.data)

    def rebuild(uid: str) -> None:
        build_for_node(FleetContext.open(settings=Settings.load(home, environ={})), uid)

    boards = [start_board(i, args.baud) for i in range(n_boards)]
    t_esptool, t_cli, t_cli_re, t_lib, t_lib_re = [], [], [], [], []
    try:
        env = {**os.environ, "FLEET_HOME": str(home)}
        for k in range(r):
            # (a) the same writes: stock esptool CLI, `fleet flash` CLI, flash_node() in a
            # worker process (what the station runs); each on a blank board
            e, c, lib = 3 * k, 3 * k + 1, 3 * k + 2
            nvs_path = tmp / f"nvs-{e}.bin"
            nvs_path.touch(mode=0o600)  # stock esptool reads files: keep it private
            nvs_path.write_bytes(image_for_node(ctx, f"nd-ph-{e}"))
            writes = sorted([*files, (nvs_part.offset, nvs_path)])
            t_esptool.append(
                timed(
                    [*ESPTOOL, "--chip", "esp32", "--port", boards[e][1], "-b", str(args.baud),
                     "write-flash", "-z", *[a for off, p in writes for a in (hex(off), str(p))]]
                )
            )  # fmt: skip
            cli = [*FLEET, "flash", f"nd-ph-{c}", "--port", boards[c][1], "--baud", str(args.baud)]
            t_cli.append(timed([*cli, "--json"], env))
            t_lib.append(parallel(home, [(f"nd-ph-{lib}", boards[lib][1])], args.baud)[0])
            # (b) the node's NodeConfig changes (new escrowed NVS); reflash, app unchanged
            set_value(ctx, "mqtt.host", f"10.0.1.{k + 1}")
            rebuild(f"nd-ph-{c}")
            t_cli_re.append(timed([*cli, "--json"], env))
            rebuild(f"nd-ph-{lib}")
            t_lib_re.append(parallel(home, [(f"nd-ph-{lib}", boards[lib][1])], args.baud)[0])
        # (c) N blank boards at once, one worker process per port, vs one board alone
        jobs = [(f"nd-ph-{i}", boards[i][1]) for i in range(3 * r, n_boards)]
        t_many, b_many = parallel(home, jobs, args.baud)
    finally:
        for proc, _ in boards:
            proc.terminate()
        for proc, _ in boards:
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)  # throwaway nodes, but NVS files hold secrets

    b_single = len(fw.file("app").data)  # type: ignore[union-attr]
    esp_t, cli_t, lib_t = min(t_esptool), min(t_cli), min(t_lib)
    cli_re, lib_re = min(t_cli_re), min(t_lib_re)
    one_rate = (b_single + nvs_part.size) / lib_t
    many_rate = b_many / t_many
    print(
        f"boards paced at {args.baud} baud; app {b_single} B + NVS {nvs_part.size} B; "
        f"best of {r}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"(a) full flash: stock `esptool write-flash -z` CLI {esp_t:.2f} s (baseline) | "
        f"flash_node() {lib_t:.2f} s = {lib_t / esp_t:.2f}x | `fleet flash` CLI {cli_t:.2f} s "
        f"= {cli_t / esp_t:.2f}x (goal <= 1.1x)"
    )
    print(
        f"(b) reflash, app unchanged, NVS changed: flash_node() {lib_re:.2f} s = "
        f"{lib_t / lib_re:.1f}x faster than its full flash | `fleet flash` CLI {cli_re:.2f} s "
        f"= {cli_t / cli_re:.1f}x (goal >= 10x)"
    )
    print(
        f"(c) {len(jobs)} boards in parallel: {many_rate / 1000:.1f} kB/s aggregate "
        f"({t_many:.2f} s, {b_many} B) | one board {one_rate / 1000:.1f} kB/s "
        f"({lib_t:.2f} s) | {many_rate / one_rate:.1f}x (goal >= 6x)"
    )


if __name__ == "__main__":
    main()
