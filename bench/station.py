"""Benchmark of `fleet station` end to end against virtual boards paced at a real baud rate.

The whole station path per board: port scan, worker process, chip detection and MAC read,
node lookup, then `flash_node` (stub, compare by MD5, write bootloader + partition table +
1.5 MB app + NVS compressed, verify, reset), audit. Measured in the same run:

- baseline: one board alone through the station (`--parallel 1`);
- figure: 8 boards through the station at once (`--parallel 8`);

goal: aggregate throughput of the 8 >= 6x the single board. Every board starts blank, so
nothing is skipped. Each board is served by its own `fleet sim esp32` process (stopped by
PID at the end), paced at `--baud` (10 bits per byte on the wire).

Run: `.venv/bin/python bench/station.py [--app-size N] [--baud B] [--boards N]`.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from fleet.context import FleetContext
from fleet.firmware.store import FirmwareStore
from fleet.flashing.station import Station, _worker_context
from fleet.flashing.station_job import JobOptions, Outcome
from fleet.home import init_home
from fleet.nvs.site import set_value
from fleet.registry import NodeSpec
from fleet.registry.importing import ImportRow, import_rows
from fleet.settings import Settings
from fleet.sim.esp32.process import spawn_board
from fleet.sim.firmware_gen import write_bundle


def mac(i: int) -> str:
    return f"24:0a:c4:00:20:{i:02x}"


def start_board(i: int, baud: int) -> tuple[subprocess.Popen[str], str]:
    """One virtual board in its own process; returns (process, socket URL)."""
    return spawn_board(mac(i), baud_pace=baud)


def setup_home(root: Path, boards: int, app_size: int) -> Path:
    """A data directory with `boards` ESP32 nodes, site values and a 1.5 MB-app firmware."""
    home = root / "home"
    settings = Settings.load(home, environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    rows = [
        ImportRow(
            NodeSpec(
                f"nd-ph-{i}", "gh-1", "zn-1", "ph", hardware_id="esp32-" + mac(i).replace(":", "")
            ),
            None,
        )
        for i in range(boards)
    ]
    import_rows(ctx.registry, ctx.vault, rows, source="bench")
    for key, value in [("wifi.ssid", "farm"), ("wifi.pass", "pw"), ("mqtt.host", "10.0.0.2")]:
        set_value(ctx, key, value)
    store = FirmwareStore(ctx.registry, ctx.home)
    entry, _ = store.import_bundle(write_bundle(root / "fw", "esp32", app_size=app_size).path)
    store.assign(entry.id, node_type="ph")
    return home


def run_station(home: Path, urls: list[str], parallel: int, baud: int) -> tuple[float, int]:
    """Seconds for one `--once` station run over `urls`, and the bytes it wrote."""
    station = Station(
        JobOptions(home=str(home), baud=baud),
        urls,
        scan_usb=False,
        parallel=parallel,
        once=True,
        poll_interval=0.05,
    )
    start = time.perf_counter()
    report = station.run()
    seconds = time.perf_counter() - start
    bad = [r for r in report.final() if r.outcome is not Outcome.FLASHED]
    if bad or len(report.final()) != len(urls):
        raise RuntimeError(f"station run failed: {bad or report.final()}")
    return seconds, sum(r.bytes_written for r in report.final())


def _noop() -> None:
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--app-size", type=int, default=1_500_000)
    ap.add_argument("--baud", type=int, default=921600)
    ap.add_argument("--boards", type=int, default=8)
    args = ap.parse_args()

    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            home = setup_home(Path(tmp), args.boards + 1, args.app_size)
            urls = []
            for i in range(args.boards + 1):
                proc, url = start_board(i, args.baud)
                procs.append(proc)
                urls.append(url)
            warm = _worker_context().Process(target=_noop)  # start the fork server once
            warm.start()
            warm.join()

            t_one, b_one = run_station(home, urls[:1], 1, args.baud)
            t_many, b_many = run_station(home, urls[1:], args.boards, args.baud)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=10)

    one_rate = b_one / t_one
    many_rate = b_many / t_many
    print(f"app {args.app_size} B, boards paced at {args.baud} Bd")
    print(
        f"baseline: 1 board through the station: {t_one:.2f} s, {b_one} B, "
        f"{one_rate / 1000:.1f} kB/s"
    )
    print(
        f"figure: {args.boards} boards through the station: {t_many:.2f} s, {b_many} B, "
        f"{many_rate / 1000:.1f} kB/s aggregate"
    )
    print(f"aggregate / single = {many_rate / one_rate:.2f}x (goal >= 6x)")


if __name__ == "__main__":
    main()
