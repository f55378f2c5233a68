"""The recovery station: watch ports, flash every board that appears with its own node's image.

`Station.run` polls the ports (`fleet.flashing.ports.scan`), starts one worker process per
port with a board (at most `parallel` at a time; esptool's logger is global to a process),
relays their progress to `on_event`, and collects one `JobResult` per job. A board whose
port vanished mid-job ("unplugged") still needs a reflash: its job is redone when the port
comes back. A port that was handled is not touched again until its board is unplugged and
a board is plugged in again (watch mode).

`once=True` handles the ports present at the start and returns when each has ended
(flashed, failed, unknown board, or unplugged and not back within `return_timeout`).
Otherwise it runs until `stop` is set.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.flashing.ports import scan
from fleet.flashing.station_job import JobOptions, JobResult, Outcome, worker_main

_PRELOAD = ["fleet.flashing.station_job", "fleet.flashing.flasher", "fleet.context", "esptool"]


def _worker_context() -> Any:
    """Fresh processes without paying Python + esptool start-up per board.

    A fork server (a clean, single-threaded process that imported fleet and esptool once)
    forks each worker; where that is unavailable, plain spawn.
    """
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # pragma: no cover - platforms without fork (Windows)
        return multiprocessing.get_context("spawn")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


@dataclass(frozen=True)
class StationEvent:
    """Something the UI shows: a port appeared/left, a job started, progressed or ended."""

    kind: str  # "present", "gone", "start", "progress", "done"
    port: str
    stage: str | None = None
    done: int = 0
    total: int = 0
    result: JobResult | None = None


@dataclass
class _Port:
    present: bool = True
    status: str = "waiting"  # waiting, running, finished, needs_reflash
    attempts: int = 0
    gone_since: float | None = None
    process: Any = None


@dataclass
class StationReport:
    """Every job a station run did, in the order they ended."""

    results: list[JobResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every port's last job flashed (or registered) its board (or no board
        was found)."""
        good = (Outcome.FLASHED, Outcome.REGISTERED)
        return all(r.outcome in good for r in self.final())

    def final(self) -> list[JobResult]:
        """The last result of each port, in port order."""
        last: dict[str, JobResult] = {}
        for r in self.results:
            last[r.port] = r
        return [last[p] for p in sorted(last)]


class Station:
    """Flash boards as they are plugged in. See the module docstring for the rules."""

    def __init__(
        self,
        options: JobOptions,
        ports: Sequence[str] = (),
        *,
        scan_usb: bool = True,
        parallel: int = 4,
        once: bool = False,
        max_attempts: int = 3,
        return_timeout: float = 30.0,
        poll_interval: float = 0.5,
        on_event: Callable[[StationEvent], None] | None = None,
    ) -> None:
        self.options = options
        self.explicit = list(ports)
        self.scan_usb = scan_usb
        self.parallel = max(1, parallel)
        self.once = once
        self.max_attempts = max_attempts
        self.return_timeout = return_timeout
        self.poll_interval = poll_interval
        self.on_event = on_event or (lambda event: None)
        self._mp = _worker_context()
        self._events: Any = self._mp.Queue()
        self._ports: dict[str, _Port] = {}
        self.report = StationReport()

    # --- main loop -------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> StationReport:
        """Work until done (`once`) or until `stop` is set; returns the report."""
        stop = stop or threading.Event()
        first = True
        try:
            while not stop.is_set():
                self._poll_ports(first)
                first = False
                self._start_jobs()
                self._drain(self.poll_interval)
                self._reap()
                if self.once and (not self._ports or self._all_finished()):
                    break
        finally:
            self._shutdown()
        return self.report

    def _poll_ports(self, first: bool) -> None:
        # A port with a job running is in use: probing a socket:// URL would open it
        # (and could take it from the worker between two connections), so it counts as
        # present until the worker says otherwise.
        busy = {url for url, s in self._ports.items() if s.status == "running"}
        present = set(scan([u for u in self.explicit if u not in busy], self.scan_usb)) | busy
        now = time.monotonic()
        for url in sorted(present):
            state = self._ports.get(url)
            if state is None:
                if self.once and not first:
                    continue  # --once: only the boards that were there at the start
                self._ports[url] = _Port()
                self.on_event(StationEvent("present", url))
            elif not state.present:
                state.present = True
                state.gone_since = None
                if state.status == "finished" and not self.once:
                    state.status = "waiting"  # a (new) board in a handled port
                    state.attempts = 0
                self.on_event(StationEvent("present", url))
        for url, state in self._ports.items():
            if url not in present and state.present:
                state.present = False
                state.gone_since = now
                self.on_event(StationEvent("gone", url))
            if (
                self.once
                and state.status == "needs_reflash"
                and not state.present
                and state.gone_since is not None
                and now - state.gone_since > self.return_timeout
            ):
                state.status = "finished"  # gave up waiting for it to come back

    def _start_jobs(self) -> None:
        running = sum(1 for s in self._ports.values() if s.status == "running")
        for url, state in sorted(self._ports.items()):
            if running >= self.parallel:
                return
            if not state.present or state.status not in ("waiting", "needs_reflash"):
                continue
            state.attempts += 1
            state.status = "running"
            state.process = self._mp.Process(
                target=worker_main,
                args=(url, self.options, state.attempts, self._events),
                name=f"fleet-station {url}",
                daemon=True,
            )
            state.process.start()
            running += 1
            self.on_event(StationEvent("start", url))

    def _drain(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                message = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            kind, port = message[0], message[1]
            if kind == "progress":
                _, _, stage, done, total = message
                self.on_event(StationEvent("progress", port, stage, done, total))
            elif kind == "done":
                self._finish(port, JobResult.from_dict(message[2]))

    def _finish(self, port: str, result: JobResult) -> None:
        state = self._ports[port]
        if state.process is not None:
            state.process.join(timeout=10)
            state.process = None
        self.report.results.append(result)
        if result.outcome is Outcome.UNPLUGGED and state.attempts < self.max_attempts:
            state.status = "needs_reflash"
        else:
            state.status = "finished"
        self.on_event(StationEvent("done", port, result=result))

    def _reap(self) -> None:
        """A worker that died without reporting (killed, crashed interpreter) is a failure."""
        for url, state in self._ports.items():
            proc = state.process
            if proc is None or proc.is_alive():
                continue
            self._drain(0.2)  # its last message may still be in the queue
            if state.process is proc and proc.exitcode is not None:
                error = f"worker process exited with code {proc.exitcode} without a result"
                self._finish(url, JobResult(url, Outcome.FAILED, state.attempts, error=error))

    def _all_finished(self) -> bool:
        return bool(self._ports) and all(s.status == "finished" for s in self._ports.values())

    def _shutdown(self) -> None:
        """Stop: jobs still running are ended and reported as interrupted."""
        self._drain(0.0)
        for url, state in self._ports.items():
            proc = state.process
            if proc is None:
                continue
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=5)
            state.process = None
            error = "the station was stopped before the job ended"
            result = JobResult(url, Outcome.INTERRUPTED, state.attempts, error=error)
            self.report.results.append(result)
            state.status = "finished"
            self.on_event(StationEvent("done", url, result=result))
        self._events.close()
