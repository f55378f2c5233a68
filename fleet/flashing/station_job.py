"""One station job: identify the board on a port, find its node, flash it, audit the job.

`execute_job` runs in a worker process of its own (see `fleet.flashing.station`): esptool's
logger is global to a process, so one process per port keeps each board's output and
progress apart. It never raises for what a technician can meet (unknown board, unplugged
cable, refused firmware): those come back as a `JobResult` with an `outcome`.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fleet.errors import DeviceError, FleetError
from fleet.flashing.ports import url_present

ProgressFn = Callable[[str, int, int], None]

# esptool / pyserial / OS wording when the other end went away
_LINK_LOST = (
    "disconnected",
    "returned no data",
    "input/output error",
    "no such file",
    "could not open",
    "connection refused",
    "broken pipe",
    "reset by peer",
    "no serial data received",
)


class Outcome(enum.StrEnum):
    """How a job ended."""

    FLASHED = "flashed"  # written, verified, reset
    UNKNOWN_MAC = "unknown_mac"  # no registered node has this board's hardware_id
    REGISTERED = "registered"  # unknown board registered as a new (unbound) node
    NOT_ONLINE = "not_online"  # written and verified, but the node did not come ONLINE
    UNPLUGGED = "unplugged"  # the port went away mid-job: the node still needs a reflash
    INTERRUPTED = "interrupted"  # the station was stopped mid-job: still needs a reflash
    FAILED = "failed"  # anything else (refused firmware, verify failure, ...)


@dataclass(frozen=True)
class JobOptions:
    """What every job of a station run shares."""

    home: str
    baud: int | None = None
    firmware_id: str | None = None
    register_unknown: bool = False
    connect_attempts: int = 3
    wait_online: float = 0.0  # seconds to wait for the node ONLINE on MQTT (0: do not)
    broker: str | None = None  # mqtt://host:port; default: the [service] broker


@dataclass(frozen=True)
class JobResult:
    """What one job did; `error` names the reason when it did not flash."""

    port: str
    outcome: Outcome
    attempt: int = 1
    node_uid: str | None = None
    hardware_id: str | None = None
    mac: str | None = None
    chip: str | None = None
    bytes_written: int = 0
    bytes_skipped: int = 0
    seconds: float = 0.0
    error: str | None = None
    log: str | None = None  # this job's own log file (esptool output, at debug level)
    online: bool | None = None  # seen ONLINE on MQTT after the flash (None: not watched)

    @property
    def needs_reflash(self) -> bool:
        """True when the board must be plugged in again (the job was cut short)."""
        return self.outcome in (Outcome.UNPLUGGED, Outcome.INTERRUPTED)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = asdict(self)
        out["outcome"] = self.outcome.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        """The inverse of `to_dict` (results travel between processes as dicts)."""
        return cls(**{**data, "outcome": Outcome(data["outcome"])})


def link_lost(port: str, exc: FleetError) -> bool:
    """True when `exc` on `port` means the board went away (cable pulled, port vanished)."""
    text = exc.message.lower()
    return any(marker in text for marker in _LINK_LOST) or not url_present(port)


def execute_job(port: str, options: JobOptions, attempt: int, progress: ProgressFn) -> JobResult:
    """Identify, look up and flash the board on `port`; audit the job; never raises FleetError."""
    from fleet.context import FleetContext
    from fleet.flashing.device import open_device
    from fleet.flashing.flasher import flash_node

    started = time.monotonic()
    base: dict[str, Any] = {"port": port, "attempt": attempt}

    def finish(outcome: Outcome, ctx: Any, **fields: Any) -> JobResult:
        result = JobResult(
            outcome=outcome, seconds=round(time.monotonic() - started, 3), **base, **fields
        )
        if ctx is not None:
            detail = {k: v for k, v in result.to_dict().items() if v is not None}
            ok = outcome in (Outcome.FLASHED, Outcome.REGISTERED)
            ctx.registry.audit(
                "station.job",
                node_uid=result.node_uid,
                outcome="ok" if ok else "error",
                detail=detail,
            )
        return result

    try:
        ctx = FleetContext.open(Path(options.home))
    except FleetError as exc:
        return finish(Outcome.FAILED, None, error=exc.message)
    try:
        with open_device(port, 0, options.connect_attempts, progress) as dev:
            info = dev.info
    except FleetError as exc:
        outcome = Outcome.UNPLUGGED if link_lost(port, exc) else Outcome.FAILED
        return finish(outcome, ctx, error=exc.message)
    base.update(hardware_id=info.hardware_id, mac=info.mac, chip=info.chip)
    node = ctx.registry.find_by_hardware_id(info.hardware_id)
    if node is None:
        if options.register_unknown:
            return _register(ctx, info, finish)
        return finish(
            Outcome.UNKNOWN_MAC,
            ctx,
            error=f"no node has hardware_id {info.hardware_id} (MAC {info.mac})",
        )
    base["node_uid"] = node.uid
    watch = None
    try:
        if options.wait_online > 0:
            from fleet.flashing.online_watch import OnlineWatch, site_broker

            topic = f"hydro/{node.gh_uid}/{node.zone_uid}/{node.uid}"
            watch = OnlineWatch(site_broker(ctx, options.broker), topic).start()
        res = flash_node(
            ctx, node.uid, port, options.firmware_id, progress=progress, baud=options.baud
        )
        written = {"bytes_written": res.bytes_written, "bytes_skipped": res.bytes_skipped}
        if watch is None:
            return finish(Outcome.FLASHED, ctx, **written)
        progress("online", 0, 1)
        if watch.wait(options.wait_online):
            progress("online", 1, 1)
            return finish(Outcome.FLASHED, ctx, online=True, **written)
        error = f"written and verified, but not ONLINE on MQTT within {options.wait_online:g} s"
        return finish(Outcome.NOT_ONLINE, ctx, online=False, error=error, **written)
    except DeviceError as exc:
        outcome = Outcome.UNPLUGGED if link_lost(port, exc) else Outcome.FAILED
        return finish(outcome, ctx, error=exc.message)
    except FleetError as exc:
        return finish(Outcome.FAILED, ctx, error=exc.message)
    finally:
        if watch is not None:
            watch.close()


def _register(ctx: Any, info: Any, finish: Callable[..., JobResult]) -> JobResult:
    """Register an unknown board as an unbound node (temp namespace, uid = hardware_id)."""
    from fleet.registry import NodeSpec

    spec = NodeSpec(
        uid=info.hardware_id,
        gh_uid="gh-temp",
        zone_uid="zn-temp",
        hardware_id=info.hardware_id,
        mac=info.mac,
        chip=info.chip,
    )
    try:
        node = ctx.registry.add_node(spec, audit_detail={"source": "station", "port": info.port})
    except FleetError as exc:
        return finish(Outcome.FAILED, ctx, error=exc.message)
    return finish(Outcome.REGISTERED, ctx, node_uid=node.uid)


def job_log_path(home: str, port: str, attempt: int) -> Path:
    """Where the job on `port` writes its log: `<home>/logs/station/<time>-<port>-<n>.log`."""
    safe = re.sub(r"[^A-Za-z0-9.]+", "_", port).strip("_")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return Path(home) / "logs" / "station" / f"{stamp}-{safe}-{attempt}.log"


def worker_main(port: str, options: JobOptions, attempt: int, events: Any) -> None:
    """Entry point of a station worker process: run one job, report through `events`.

    Puts `("progress", port, stage, done, total)` tuples while working and one
    `("done", port, result_dict)` at the end. The job logs (esptool's output included) to
    its own file, see `job_log_path`. Ctrl-C is ignored here: the station decides when
    to stop a job.
    """
    import logging
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log_file: str | None = None
    try:
        path = job_log_path(options.home, port, attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fleet_log = logging.getLogger("fleet")
        fleet_log.setLevel(logging.DEBUG)
        fleet_log.addHandler(handler)
        fleet_log.propagate = False
        log_file = str(path)
    except OSError:
        logging.basicConfig(level=logging.WARNING)

    def progress(stage: str, done: int, total: int) -> None:
        events.put(("progress", port, stage, done, total))

    try:
        result = execute_job(port, options, attempt, progress)
    except Exception as exc:  # a bug: still report it as this port's failure
        logging.getLogger(__name__).exception("station job on %s", port)
        result = JobResult(port, Outcome.FAILED, attempt, error=f"{type(exc).__name__}: {exc}")
    events.put(("done", port, {**result.to_dict(), "log": log_file}))
