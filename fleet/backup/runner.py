"""`fleet backup run` as a library call: pick layers, check them, write one snapshot."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleet.backup import agecrypt
from fleet.backup.layer import LayerEnv, LayerHandler
from fleet.backup.layers import handler_class, layer_names
from fleet.backup.manifest import ArtifactRecord, LayerRecord, Manifest
from fleet.backup.repository import Repository, new_snapshot_id, utcnow
from fleet.backup.settings import BackupSettings, backup_settings
from fleet.backup.verify import VerifyReport, check_written, verify_snapshot
from fleet.errors import FleetError, LayerError, UsageError
from fleet.settings import Settings

#: Layers that run without a `[layers.<name>]` table (set `enabled = false` to skip).
DEFAULT_ON = frozenset({"fleet"})


class Progress(Protocol):
    """What a runner reports while it works (the CLI draws bars from it)."""

    def layer_started(self, layer: str) -> None:
        """A layer begins."""

    def artifact(self, layer: str, name: str, size: int) -> None:
        """An artifact of `size` plaintext bytes was stored."""

    def layer_finished(self, layer: str, status: str, error: str | None) -> None:
        """A layer ended with `ok` or `failed`."""


class _Silent:
    def layer_started(self, layer: str) -> None:
        pass

    def artifact(self, layer: str, name: str, size: int) -> None:
        pass

    def layer_finished(self, layer: str, status: str, error: str | None) -> None:
        pass


@dataclass
class BackupResult:
    """What a run did: the snapshot, the layers that ran and skipped, the verification."""

    snapshot: str
    path: str
    layers: dict[str, str]
    skipped: dict[str, str]
    artifacts: int
    bytes: int
    started_at: str
    finished_at: str
    verify: VerifyReport | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every layer succeeded and the written snapshot verified."""
        return not self.errors and (self.verify is None or self.verify.ok)


def configured_layers(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """(layers that will run, {skipped layer: why}) according to the settings."""
    run, skipped = [], {}
    for name in layer_names():
        raw = settings.raw_section(f"layers.{name}")
        if raw is None and name not in DEFAULT_ON:
            skipped[name] = f"no [layers.{name}] section"
        elif raw is not None and raw.get("enabled") is False:
            skipped[name] = "enabled = false"
        else:
            run.append(name)
    return run, skipped


def build_handler(settings: Settings, name: str, env: LayerEnv) -> LayerHandler:
    """Instantiate layer `name` with its validated `[layers.<name>]` settings."""
    cls = handler_class(name)
    config = settings.section(f"layers.{name}", cls.settings_model)
    factory: Any = cls
    handler: LayerHandler = factory(config, env)
    return handler


def layer_env(settings: Settings, cfg: BackupSettings) -> LayerEnv:
    """The `LayerEnv` for this data directory (the repository is excluded from captures)."""
    return LayerEnv(
        home=settings.home,
        settings_data=settings.data,
        exclude=(cfg.repository_path(settings.home).resolve(),),
        zstd_level=cfg.zstd_level,
    )


def tool_versions() -> dict[str, str]:
    """Versions of what wrote a snapshot."""
    out = {"python": platform.python_version()}
    for dist in ("fleet", "pyrage", "zstandard"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def run_backup(
    settings: Settings,
    only: Sequence[str] | None = None,
    progress: Progress | None = None,
    verify: bool = False,
) -> BackupResult:
    """Take one snapshot of the configured (or `only` the named) layers.

    All prerequisites are checked before anything is written. A layer that fails while
    running is recorded as failed (its artifacts discarded) and the others still run; the
    snapshot is then committed as incomplete and `BackupResult.errors` names the layer.
    Up to `[backup] parallel_layers` layers run at once. Afterwards the snapshot gets the
    cheap `written` check, or with `verify` a full structure verification.
    `Conflict` if another backup holds the repository lock.
    """
    progress = progress or _Silent()
    cfg = backup_settings(settings)
    repo = Repository(cfg.repository_path(settings.home))
    recipients = agecrypt.parse_recipients(cfg.recipients)
    names, skipped = configured_layers(settings)
    if only:
        unknown = [n for n in only if n not in layer_names()]
        if unknown:
            raise UsageError(f"unknown layer(s) {', '.join(unknown)}; known: {layer_names()}")
        off = [n for n in only if n not in names]
        if off:
            raise UsageError(f"layer(s) not configured: {', '.join(off)} ({skipped[off[0]]})")
        skipped.update({n: "not selected" for n in names if n not in only})
        names = [n for n in names if n in only]
    if not names:
        raise UsageError("no backup layer is configured (add a [layers.<name>] section)")
    env = layer_env(settings, cfg)
    handlers = {name: build_handler(settings, name, env) for name in names}
    for handler in handlers.values():
        handler.prerequisites()
    with repo.lock("backup run"):
        sid = new_snapshot_id()
        manifest = Manifest(
            id=sid,
            site=cfg.site or socket.gethostname(),
            host=socket.gethostname(),
            started_at=utcnow(),
            finished_at="",
            recipients=list(cfg.recipients),
            tools=tool_versions(),
        )
        writer = repo.begin(sid, recipients)
        errors: dict[str, str] = {}
        try:
            outcomes = _run_layers(handlers, writer, progress, cfg.parallel_layers)
            for name in handlers:
                layer_rec, records, error = outcomes[name]
                manifest.layers[name] = layer_rec
                manifest.artifacts.extend(records)
                if error:
                    errors[name] = error
            manifest.finished_at = utcnow()
            final = writer.commit(manifest)
        except BaseException:
            writer.abort()
            raise
        report = verify_snapshot(repo, sid) if verify else check_written(repo, sid)
    return BackupResult(
        snapshot=sid,
        path=str(final),
        layers={n: r.status for n, r in manifest.layers.items()},
        skipped=skipped,
        artifacts=len(manifest.artifacts),
        bytes=sum(a.size for a in manifest.artifacts),
        started_at=manifest.started_at,
        finished_at=manifest.finished_at,
        verify=report,
        errors=errors,
    )


def _run_layers(
    handlers: dict[str, LayerHandler], writer: Any, progress: Progress, parallel: int
) -> dict[str, tuple[LayerRecord, list[ArtifactRecord], str | None]]:
    workers = max(1, min(parallel, len(handlers)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layer") as pool:
        futures = {
            name: pool.submit(_run_layer, name, handler, writer, progress)
            for name, handler in handlers.items()
        }
        return {name: fut.result() for name, fut in futures.items()}


def _run_layer(
    name: str, handler: LayerHandler, writer: Any, progress: Progress
) -> tuple[LayerRecord, list[ArtifactRecord], str | None]:
    progress.layer_started(name)
    started = utcnow()
    records = []
    try:
        for stream in handler.backup():
            rec = writer.add(name, stream)
            records.append(rec)
            progress.artifact(name, rec.name, rec.size)
    except (FleetError, OSError) as exc:
        writer.discard_layer(name)
        if isinstance(exc, LayerError):
            msg = exc.message
        elif isinstance(exc, FleetError):
            msg = f"layer {name}: {exc.message}"
        else:  # e.g. a folder that became unreadable after the prerequisite check
            msg = f"layer {name}: {exc}"
        progress.layer_finished(name, "failed", msg)
        return LayerRecord(name, "failed", started, utcnow(), error=msg), [], msg
    progress.layer_finished(name, "ok", None)
    return (
        LayerRecord(name, "ok", started, utcnow(), artifacts=[r.name for r in records]),
        records,
        None,
    )
