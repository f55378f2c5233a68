"""Restore drills: prove that a snapshot really restores, and measure RTO and RPO.

`run_drill` restores every layer of a snapshot into scratch space only (a temporary folder
per drill and a throwaway PostgreSQL cluster on a free loopback port), runs the health checks
of `fleet.recovery.drill_checks`, records the result under `<home>/drills/` and removes the
scratch space. It never writes to the live site's paths or database: the live settings are
read only for the repository, the identity and the layer list.

RTO is the wall time from the start of the drill until every layer is restored (cluster
creation included: a pessimistic figure); PostgreSQL is restored beside the file layers, as
independent layers can be in a real recovery. RPO is the age of the newest archived WAL segment
when PostgreSQL archives WAL, else the age of the snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fleet.backup.layer import RestoreOptions
from fleet.backup.layers import layer_names
from fleet.backup.postgres.cluster import PgCluster
from fleet.backup.postgres.wal import WalArchive
from fleet.backup.runner import build_handler, layer_env
from fleet.errors import FleetError
from fleet.recovery import drill_checks as checks
from fleet.recovery.drill_checks import Check
from fleet.recovery.settings import DrillSettings, drill_settings
from fleet.recovery.source import SnapshotSource, open_source
from fleet.settings import Settings

Progress = Callable[[str], None]


@dataclass
class DrillReport:
    """What a drill proved and measured; `ok` when every layer restored and every check passed."""

    snapshot: str
    snapshot_taken_at: str
    started_at: str
    finished_at: str
    ok: bool
    rto_seconds: float
    total_seconds: float
    rpo_seconds: float | None
    rpo_basis: str
    layers: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    record: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DrillReport:
        """A report read back from its record."""
        data = dict(raw)
        data["checks"] = [Check(**c) for c in data.get("checks", [])]
        return cls(**data)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parse(ts: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(ts)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _rpo(settings: Settings, src: SnapshotSource, now: dt.datetime) -> tuple[float | None, str]:
    newest = None
    try:
        newest = WalArchive.from_settings(settings).newest()
    except FleetError:
        newest = None
    if newest is not None:
        when = _parse(newest.archived_at)
        if when is not None:
            return round((now - when).total_seconds(), 1), f"newest archived WAL {newest.name}"
    when = _parse(src.manifest.finished_at)
    if when is None:
        return None, "unknown"
    return round((now - when).total_seconds(), 1), f"snapshot {src.snapshot} (no WAL archived)"


def _scratch_context(home: Path, live: Settings) -> Any:
    """A FleetContext over the restored data directory (registry and key from scratch)."""
    from fleet.context import FleetContext

    overrides: dict[str, Any] = {"registry": {"url": f"sqlite:///{home / 'registry.sqlite3'}"}}
    key_name = Path(live.vault.key_file).name
    if (home / key_name).exists():
        overrides["vault"] = {"key_file": str(home / key_name)}
    environ = {k: v for k, v in live.environ.items() if k == "FLEET_VAULT_KEY"}
    scratch = Settings.load(home, overrides=overrides, environ=environ)
    return FleetContext.open(settings=scratch)


class _Drill:
    def __init__(self, settings: Settings, src: SnapshotSource, cfg: DrillSettings) -> None:
        self.settings = settings
        self.src = src
        self.cfg = cfg
        parent = Path(cfg.scratch).expanduser() if cfg.scratch else None
        self.scratch = Path(tempfile.mkdtemp(prefix="fleet-drill-", dir=parent))
        self.cluster: PgCluster | None = None
        self.checks: list[Check] = []
        self.layers: dict[str, float] = {}

    def restore(self, layer: str) -> None:
        if layer == "postgres":
            self.cluster = PgCluster.create()
            self.cluster.start()
            env = layer_env(self.settings, self.src.config)
            handler = build_handler(self.settings, "postgres", env)
            options = RestoreOptions(
                target=self.scratch / layer, params={"dsn": self.cluster.dsn("template1")}
            )
            handler.restore(self.src.artifacts(layer), options)
        else:
            self.src.restore_files(layer, self.scratch / layer)

    def check(self, layer: str) -> None:
        arts = self.src.artifacts(layer)
        if layer == "postgres":
            assert self.cluster is not None
            self.checks.extend(checks.check_postgres(self.cluster.dsn(), arts))
            return
        root = self.scratch / layer
        self.checks.append(checks.check_files(layer, root, arts))
        if layer == "mosquitto" and self.cfg.broker_check:
            conf = next((str(a.meta["config"]) for a in arts if "config" in a.meta), None)
            if conf:
                self.checks.append(
                    checks.check_broker(root, conf, self.scratch, self.cfg.broker_timeout)
                )
        if layer == "fleet":
            try:
                ctx = _scratch_context(root, self.settings)
            except FleetError as exc:
                self.checks.append(Check("fleet: restored registry opens", False, exc.message))
                return
            self.checks.append(checks.check_escrow(ctx))
            self.checks.append(checks.check_firmware(ctx))

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.destroy()
        if not self.cfg.keep_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def run_drill(
    ctx: Any, snapshot: str | None = None, progress: Progress | None = None
) -> DrillReport:
    """Drill `snapshot` (newest when None): restore into scratch, check, measure, record.

    `ctx` is a `FleetContext` or `Settings` (only settings are used, so `fleet serve` can call
    it on a schedule). A layer that fails to restore is a failed check, not an exception;
    `ConfigError`/`NotFound` when there is no repository, identity or snapshot.
    """
    settings: Settings = ctx if isinstance(ctx, Settings) else ctx.settings
    say = progress or (lambda _msg: None)
    started = _now()
    t0 = time.monotonic()
    src = open_source(settings, snapshot)
    cfg = drill_settings(settings)
    drill = _Drill(settings, src, cfg)
    status = src.layer_status()
    order = [n for n in layer_names() if status.get(n) == "ok"]
    restored: list[str] = []
    failed: list[Check] = []

    def one(layer: str) -> None:
        t = time.monotonic()
        try:
            drill.restore(layer)
            restored.append(layer)
        except FleetError as exc:
            failed.append(Check(f"{layer}: restores", False, exc.message))
        drill.layers[layer] = round(time.monotonic() - t, 3)

    try:
        # PostgreSQL (mostly pg_restore in its own process) runs beside the file layers,
        # as a real recovery of independent layers would.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drill-pg") as pool:
            pg = pool.submit(one, "postgres") if "postgres" in order else None
            for layer in order:
                if layer != "postgres":
                    say(f"restoring {layer}")
                    one(layer)
            if pg is not None:
                say("restoring postgres")
                pg.result()
        rto = round(time.monotonic() - t0, 3)
        drill.checks.extend(failed)
        restored.sort(key=order.index)
        for layer in restored:
            say(f"checking {layer}")
            drill.check(layer)
        for name, st in status.items():
            if st != "ok":
                drill.checks.append(Check(f"{name}: in snapshot", False, "failed at backup time"))
    finally:
        drill.close()
    finished = _now()
    rpo, basis = _rpo(settings, src, finished)
    report = DrillReport(
        snapshot=src.snapshot,
        snapshot_taken_at=src.manifest.finished_at,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
        ok=all(c.ok for c in drill.checks) and len(restored) == len(order),
        rto_seconds=rto,
        total_seconds=round(time.monotonic() - t0, 3),
        rpo_seconds=rpo,
        rpo_basis=basis,
        layers=drill.layers,
        checks=drill.checks,
    )
    report.record = str(record_drill(settings, report, cfg))
    _audit(ctx, report)
    return report


def _audit(ctx: Any, report: DrillReport) -> None:
    """An audit record of the drill when a registry is at hand (a FleetContext was given)."""
    if isinstance(ctx, Settings):
        return
    registry = ctx.registry
    failed = [c.name for c in report.checks if not c.ok]
    registry.audit(
        "site.drill",
        outcome="ok" if report.ok else "failed",
        detail={"snapshot": report.snapshot, "rto_s": report.rto_seconds, "failed": failed},
    )


def record_drill(settings: Settings, report: DrillReport, cfg: DrillSettings) -> Path:
    """Store `report` as `<results_dir>/<started_at>.json` (aside, fsync, rename)."""
    folder = cfg.results_path(settings.home)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.replace(":", "").replace("-", "").split("+")[0]
    path = folder / f"{stamp}-{report.snapshot}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    data = asdict(report)
    data["record"] = str(path)
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def last_drill(settings: Settings) -> DrillReport | None:
    """The most recent recorded drill, or None when no drill was run."""
    folder = drill_settings(settings).results_path(settings.home)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json"), reverse=True):
        try:
            return DrillReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
    return None
