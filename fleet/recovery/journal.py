"""The recovery journal: what each step of a site recovery did, durably, so a run can resume.

One JSON file per snapshot under the journal folder (`<home>/recovery/<snapshot>.json`),
rewritten aside, fsynced and renamed after every change: a process killed at any moment leaves
either the previous or the next state, never a torn file. A step is `pending`, `running`
(started, not finished: an interrupted step, redone on resume), `done`, `skipped` or `failed`.
`notes` holds facts a step must remember across attempts (e.g. which databases existed before
the run, the reboot campaign it started) and are written *before* the action they guard.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fleet.errors import CorruptData

PENDING, RUNNING, DONE, SKIPPED, FAILED = "pending", "running", "done", "skipped", "failed"
FINAL = frozenset({DONE, SKIPPED})


def utcnow() -> str:
    """Now, UTC, ISO 8601 with seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class StepRecord:
    """One step's state; `seconds` sums every attempt's duration."""

    name: str
    state: str = PENDING
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Journal:
    """The journal of recovering one snapshot; `save()` after each change."""

    path: Path
    snapshot: str
    created_at: str
    steps: dict[str, StepRecord]
    finished_at: str | None = None
    runs: int = 0
    _t0: float = field(default=0.0, repr=False)

    @classmethod
    def open(cls, folder: Path, snapshot: str, step_names: list[str]) -> Journal:
        """Load the journal of `snapshot` (adding steps it lacks) or start a new one.

        `CorruptData` naming the file when it exists but is not a journal.
        """
        path = folder / f"{snapshot}.json"
        if path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                steps = {k: StepRecord(**v) for k, v in raw["steps"].items()}
                journal = cls(
                    path,
                    raw["snapshot"],
                    raw["created_at"],
                    steps,
                    raw.get("finished_at"),
                    int(raw.get("runs", 0)),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise CorruptData(f"recovery journal {path} is damaged ({exc})") from exc
        else:
            journal = cls(path, snapshot, utcnow(), {})
        for name in step_names:
            journal.steps.setdefault(name, StepRecord(name))
        return journal

    @property
    def complete(self) -> bool:
        """True when every step is done or skipped."""
        return all(s.state in FINAL for s in self.steps.values())

    def save(self) -> None:
        """Write the journal durably (aside, fsync, rename, fsync the folder)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "snapshot": self.snapshot,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "runs": self.runs,
            "steps": {k: asdict(v) for k, v in self.steps.items()},
        }
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def begin(self, name: str) -> StepRecord:
        """Mark `name` running (one more attempt) and save."""
        rec = self.steps[name]
        rec.state, rec.error, rec.finished_at = RUNNING, None, None
        rec.attempts += 1
        rec.started_at = utcnow()
        self._t0 = time.monotonic()
        self.save()
        return rec

    def note(self, name: str, **facts: Any) -> None:
        """Remember `facts` for step `name` across attempts, durably, before acting on them."""
        self.steps[name].notes.update(facts)
        self.save()

    def _end(self, name: str, state: str, detail: dict[str, Any], error: str | None) -> None:
        rec = self.steps[name]
        if rec.state == RUNNING:
            rec.seconds = round(rec.seconds + time.monotonic() - self._t0, 3)
        rec.state, rec.detail, rec.error, rec.finished_at = state, detail, error, utcnow()
        if self.complete:
            self.finished_at = rec.finished_at
        self.save()

    def finish(self, name: str, detail: dict[str, Any]) -> None:
        """Mark `name` done with what it did."""
        self._end(name, DONE, detail, None)

    def skip(self, name: str, reason: str) -> None:
        """Mark `name` skipped, saying why."""
        self._end(name, SKIPPED, {"reason": reason}, None)

    def fail(self, name: str, error: str) -> None:
        """Mark `name` failed with the error message (no secrets: messages never hold any)."""
        self._end(name, FAILED, {}, error)

    @property
    def total_seconds(self) -> float:
        """Sum of every step's time across attempts."""
        return round(sum(s.seconds for s in self.steps.values()), 3)
