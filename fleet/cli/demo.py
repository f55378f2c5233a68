"""`fleet demo`: a scripted tour on embedded defaults, in a temporary data directory.

Each step calls the library exactly as the real commands do; nothing here is special
demo code except the sample site and the printing.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table

from fleet.cli._common import console
from fleet.context import FleetContext
from fleet.errors import FleetError, MissingPrerequisite
from fleet.home import init_home
from fleet.registry.importing import import_rows
from fleet.settings import Settings
from fleet.sim.site import sample_rows

app = typer.Typer()

Step = Callable[["Demo"], None]


class Demo:
    """State shared by the demo's steps."""

    def __init__(self, home: Path, nodes: int, serve_nodes: int = 300) -> None:
        self.home = home
        self.nodes = nodes
        self.serve_nodes = max(nodes, serve_nodes)
        self.settings = Settings.load(home, environ={})
        self._ctx: FleetContext | None = None
        self.notes: list[str] = []
        self.cleanups: list[Callable[[], None]] = []

    @property
    def ctx(self) -> FleetContext:
        if self._ctx is None:
            self._ctx = FleetContext.open(settings=self.settings)
        return self._ctx


def step_site(d: Demo) -> None:
    """init, import a sample site, list it, sign a reboot."""
    init_home(d.settings)
    result = import_rows(d.ctx.registry, d.ctx.vault, sample_rows(d.nodes), source="demo")
    console.print(
        f"{result.imported} nodes registered from a sample site; each got a fresh node_secret "
        "in the vault (never in the database or a log)"
    )
    nodes = d.ctx.registry.list_nodes()
    table = Table("uid", "hardware_id", "type", "chip", "gh/zone", title="first nodes")
    for n in nodes[:6]:
        table.add_row(n.uid, n.hardware_id or "", n.node_type, n.chip, f"{n.gh_uid}/{n.zone_uid}")
    console.print(table)
    from fleet.service.signing import sign_for_node

    signed = sign_for_node(d.ctx, nodes[0].uid, "reboot")
    console.print(
        f"a signed reboot for {nodes[0].uid}, as it would be published on {signed.topic}:"
    )
    print(json.dumps(signed.payload))  # plain print: a JSON line is never wrapped mid-value


def step_nvs(d: Demo) -> None:
    """Site values, every node's NVS image built and escrowed, one parsed back and verified."""
    from fleet.nvs import escrow, inspect, site
    from fleet.nvs.nodeconfig import mask_secrets, read_nodeconfig

    site.set_value(d.ctx, "wifi.ssid", "hydro-net")
    site.set_value(d.ctx, "wifi.pass", "demo-wifi-pass")
    site.set_value(d.ctx, "mqtt.host", "127.0.0.1")
    site.set_value(d.ctx, "mqtt.port", "1883")
    result = escrow.build_all(d.ctx)
    console.print(
        f"escrowed {result.built} NVS images in {result.seconds:.2f} s "
        f"({result.images_per_second:.0f} images/s), {len(result.failures)} failures"
    )
    uid = d.ctx.registry.list_nodes()[0].uid
    image = escrow.image_for_node(d.ctx, uid)
    config = mask_secrets(read_nodeconfig(image))
    console.print(f"{uid}: {len(image)}-byte partition parsed back:")
    print(json.dumps(config, ensure_ascii=False)[:400])  # one unwrapped line
    report = inspect.verify(image, node_uid=uid, source=uid)
    console.print(f"verify {uid}: {'OK' if report.ok else report.problems}")


def step_station(d: Demo) -> None:
    """Firmware imported and assigned; dead nodes reflashed by the station on virtual ESP32s."""
    from fleet.firmware.store import FirmwareStore
    from fleet.flashing.station import Station
    from fleet.flashing.station_job import JobOptions
    from fleet.sim.esp32 import VirtualEsp32, serve_devices
    from fleet.sim.firmware_gen import write_bundle
    from fleet.sim.site import CHIP_OF_TYPE

    store = FirmwareStore(d.ctx.registry, d.home)
    chips = sorted(set(CHIP_OF_TYPE.values()))
    for i, chip in enumerate(chips):
        bundle = write_bundle(d.home / "builds" / chip, chip, app_size=300_000, seed=i + 1)
        entry, _new = store.import_bundle(bundle.path)
        for ntype, c in CHIP_OF_TYPE.items():
            if c == chip:
                store.assign(entry.id, node_type=ntype)
        console.print(
            f"imported and validated {entry.id} ({chip}, {entry.project} {entry.version})"
        )
    nodes = d.ctx.registry.list_nodes()
    dead = [n for n in nodes if n.chip == "esp32"][:3] + [n for n in nodes if n.chip != "esp32"][:1]
    boards = [VirtualEsp32(n.chip, n.mac or "", baud_pace=921600) for n in dead]
    console.print(f"{len(boards)} dead nodes plugged into the station: {[n.uid for n in dead]}")
    with serve_devices(boards) as server:
        station = Station(JobOptions(home=str(d.home)), server.urls, scan_usb=False, once=True)
        report = station.run()
        by_url = dict(zip(server.urls, boards, strict=True))
    table = Table("node", "result", "bytes", "seconds", "booted as")
    for r in report.final():
        boot = by_url[r.port].last_boot
        booted = str(boot.node_config.get("node_id")) if boot and boot.node_config else "-"
        result = r.outcome.value + (f": {r.error}" if r.error else "")
        table.add_row(r.node_uid or "?", result, f"{r.bytes_written:,}", f"{r.seconds:.1f}", booted)
    console.print(table)
    if not report.ok:
        raise FleetError("the station did not reflash every board")


def _fleet(d: Demo, *args: str) -> list[str]:
    """The argv of a `fleet` command against the demo's data directory."""
    import sys

    return [sys.executable, "-m", "fleet", "--home", str(d.home), *args]


def _fleet_json(d: Demo, *args: str) -> Any:
    done = subprocess.run(_fleet(d, *args, "--json"), capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise FleetError(f"fleet {' '.join(args)} failed: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise FleetError(f"timed out after {timeout:.0f} s waiting for {what}")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then wait; SIGKILL if it does not stop in time."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def step_serve(d: Demo) -> None:
    """A few hundred simulated nodes, fleet serve, a broker crash, the reboot campaign."""
    from collections import Counter

    from fleet.settings import write_file_setting
    from fleet.sim.broker import start_broker
    from fleet.sim.site import sample_rows

    known = {n.uid for n in d.ctx.registry.list_nodes()}
    extra = [r for r in sample_rows(d.serve_nodes) if r.spec.uid not in known]
    import_rows(d.ctx.registry, d.ctx.vault, extra, source="demo")
    broker = start_broker(d.home / "broker", persistence=True)
    d.cleanups.append(broker.close)
    console.print(f"Mosquitto {broker.url} (started by the demo, persistence on)")
    write_file_setting(d.home, "service.broker", broker.url)
    write_file_setting(d.home, "service.restore_outage", 2)
    d.settings.reload()
    logs = d.home / "logs"
    logs.mkdir(exist_ok=True)
    timings = ["--stale-after", "6", "--offline-after", "12", "--restore-grace", "4"]
    serve = subprocess.Popen(
        _fleet(d, "serve", *timings, "--reboot-rate", "100", "--metrics-port", "0"),
        stdout=subprocess.DEVNULL,
        stderr=(logs / "serve.log").open("wb"),
    )
    d.cleanups.append(lambda: _terminate(serve))
    sim = subprocess.Popen(
        _fleet(
            d,
            "sim",
            "nodes",
            "--from-registry",
            "--broker",
            broker.url,
            "--heartbeat-interval",
            "2",
            "--no-return",
            "3",
            "--seed",
            "7",
        ),
        stdout=subprocess.DEVNULL,
        stderr=(logs / "sim.log").open("wb"),
    )
    d.cleanups.append(lambda: _terminate(sim))
    total = len(d.ctx.registry.list_nodes())
    console.print(
        f"{total} registered nodes; all {total} simulated on the broker (fleet sim nodes), "
        "3 of them made to stay silent after a reboot to show the campaign's report"
    )

    def states() -> Counter[str]:
        return Counter(n.state for n in d.ctx.registry.list_nodes())

    _wait("the nodes to come ONLINE", lambda: states()["ONLINE"] == total, 60)
    console.print(f"{total} simulated nodes ONLINE: {dict(states())}")
    console.print("[bold]kill -9 the broker[/], restart it 3 s later on the same port ...")
    broker.restart(hard=True, downtime=3)

    def campaign() -> dict[str, Any] | None:
        found = _fleet_json(d, "campaigns", "list")
        return found[0] if found else None

    _wait("fleet serve to detect the restore", lambda: campaign() is not None, 60)
    cid = campaign()["id"]  # type: ignore[index]
    console.print(f"fleet serve detected the restore and started reboot campaign {cid}")

    def done() -> bool:
        info = _fleet_json(d, "campaigns", "show", str(cid))
        return bool(info.get("finished") or info.get("state") in ("finished", "done"))

    _wait("the campaign to finish", done, 120)
    info = _fleet_json(d, "campaigns", "show", str(cid))
    report = info.get("report", info)
    table = Table("outcome", "nodes", title=f"campaign {cid}")
    for key in ("back", "silent", "no_answer"):
        table.add_row(key, f"{len(report.get(key, []))}  {', '.join(report.get(key, [])[:4])}")
    table.add_row("refused", str(len(report.get("refused", {}))))
    console.print(table)
    console.print(
        "nodes for the station: "
        + ", ".join(report.get("silent", []) + report.get("no_answer", []))
    )


HYDRO_SCHEMA = """
CREATE TABLE greenhouses (id bigserial PRIMARY KEY, uid varchar(64) UNIQUE, name text);
CREATE TABLE zones (id bigserial PRIMARY KEY, greenhouse_id bigint REFERENCES greenhouses(id),
                    uid varchar(64), name text);
CREATE TABLE nodes (id bigserial PRIMARY KEY, zone_id bigint REFERENCES zones(id),
                    uid varchar(64) UNIQUE, type varchar(32), hardware_id varchar(32),
                    config jsonb);
CREATE TABLE telemetry_samples (id bigserial PRIMARY KEY, node_id bigint, metric text,
                                value double precision, ts timestamptz DEFAULT now());
CREATE ROLE hydro_app LOGIN;
INSERT INTO greenhouses (uid, name) VALUES ('gh-1', 'Main');
INSERT INTO zones (greenhouse_id, uid, name) VALUES (1, 'zn-1', 'A');
INSERT INTO nodes (zone_id, uid, type, hardware_id, config)
  SELECT 1, 'nd-ph-' || g, 'ph', 'esp32-' || lpad(to_hex(g), 12, '0'), '{}'::jsonb
  FROM generate_series(1, 20) g;
INSERT INTO telemetry_samples (node_id, metric, value)
  SELECT 1 + g % 20, 'ph', 5.5 + (g % 100) / 100.0 FROM generate_series(1, 50000) g;
"""


def _demo_database(d: Demo) -> str | None:
    """A throwaway PostgreSQL with a hydro-like database; its URL, or None without PostgreSQL."""
    from fleet.backup.postgres.cluster import PgCluster

    try:
        cluster = PgCluster.create()
    except MissingPrerequisite as exc:
        d.notes.append(f"PostgreSQL is not installed ({exc.message}): backing up the rest")
        console.print("[yellow]PostgreSQL not installed: the postgres layer is skipped[/]")
        return None
    d.cleanups.append(cluster.destroy)
    cluster.start()
    with cluster.connect() as conn:
        conn.execute("CREATE DATABASE hydro")
    with cluster.connect("hydro") as conn:
        conn.execute(HYDRO_SCHEMA)
    console.print(f"demo PostgreSQL on 127.0.0.1:{cluster.port}: database hydro, 50,000 rows")
    return str(cluster.url())


def step_backup(d: Demo) -> None:
    """A demo site backed up into an encrypted snapshot, verified, then drilled."""
    from fleet.backup.agecrypt import write_identity
    from fleet.backup.demo_site import make_demo_site
    from fleet.backup.runner import run_backup
    from fleet.recovery.drill import run_drill
    from fleet.settings import write_file_setting

    site_root = d.home / "site"
    layers = make_demo_site(site_root)
    dsn = _demo_database(d)
    if dsn:
        layers["postgres"] = {"dsn": dsn}
    identity = d.home / "offline" / "backup-identity.txt"
    recipient = write_identity(identity)
    write_file_setting(d.home, "backup.repository", str(d.home / "backups"))
    write_file_setting(d.home, "backup.recipients", [recipient])
    write_file_setting(d.home, "backup.identity", str(identity))
    for name, cfg in layers.items():
        write_file_setting(d.home, f"layers.{name}", cfg)
    d.settings.reload()
    result = run_backup(d.settings, verify=True)
    table = Table("layer", "status", title=f"snapshot {result.snapshot}")
    for name, status in result.layers.items():
        table.add_row(name, status)
    for name, why in result.skipped.items():
        table.add_row(name, f"skipped: {why}")
    console.print(table)
    verified = "verified" if result.verify is not None and result.verify.ok else "NOT verified"
    console.print(
        f"{result.artifacts} artifacts, {result.bytes:,} bytes, age-encrypted, {verified}"
    )
    report = run_drill(d.ctx, result.snapshot)
    bad = [c for c in report.checks if not c.ok]
    console.print(
        f"drill of {report.snapshot}: {'PASSED' if report.ok else 'FAILED'} - "
        f"{len(report.checks)} checks, RTO {report.rto_seconds:.1f} s (target 30 min)"
    )
    for c in bad:
        console.print(f"  [red]{c.name}[/]: {c.detail}", highlight=False)
    if not report.ok:
        raise FleetError("the drill of the demo snapshot failed")


STEPS: list[tuple[str, Step]] = [
    ("Registry and vault", step_site),
    ("NVS escrow", step_nvs),
    ("Technician station (virtual ESP32s)", step_station),
    ("fleet serve: liveness and reboot after a broker crash", step_serve),
    ("Backup and restore drill", step_backup),
]


@app.command("demo")
def demo(
    nodes: int = typer.Option(36, "--nodes", help="How many sample nodes."),
    keep: bool = typer.Option(False, "--keep", help="Keep the demo's data directory."),
    only: str = typer.Option(
        None, "--only", help="Run only the set-up step and steps whose title contains this."
    ),
) -> None:
    """Run a short scripted tour of fleet on a sample site (temporary data directory)."""
    home = Path(tempfile.mkdtemp(prefix="fleet-demo-"))
    d = Demo(home, nodes)
    console.print(Panel(f"fleet demo - data directory {home}", style="bold"))
    failed = 0
    t0 = time.monotonic()
    try:
        for title, fn in STEPS:
            if only and fn is not step_site and only.lower() not in title.lower():
                continue
            console.rule(title)
            start = time.monotonic()
            try:
                fn(d)
            except MissingPrerequisite as exc:
                console.print(f"[yellow]skipped:[/] {exc.message}")
                d.notes.append(f"{title}: skipped ({exc.message})")
            except FleetError as exc:
                failed += 1
                console.print(f"[red]failed:[/] {exc.message}")
            console.print(f"[dim]{title}: {time.monotonic() - start:.1f} s[/]")
    finally:
        for cleanup in reversed(d.cleanups):
            try:
                cleanup()
            except Exception as exc:  # a cleanup must not hide the demo's outcome
                console.print(f"[yellow]cleanup: {exc}[/]")
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    console.rule("done")
    for note in d.notes:
        console.print(note)
    console.print(f"demo finished in {time.monotonic() - t0:.1f} s, {failed} step(s) failed")
    raise typer.Exit(1 if failed else 0)
