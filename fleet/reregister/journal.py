"""The re-registration journal: one JSON line per event, so a killed run resumes.

File `<home>/recovery/reregister-<key>.jsonl`, `key` derived from the backend URL. Lines are
appended, flushed and fsynced one at a time; a line torn by a kill is cut off when the file
is next opened. Events (`event` field):

- `adopting` / `rotating`: written *before* the vault's node_secret of `uid` changes, so a
  run killed between that change and the NVS rebuild rebuilds it on resume;
- `registered`: the backend answered 2xx for `uid` (with `status`, `secret`, `attempts`);
  a node whose last event is `registered` is skipped by later runs;
- `rotated`: a secret lost earlier was replaced after registration (a later run);
- `failed`: the backend refused `uid` (`status`, `reason`); the node is tried again.

No line ever holds a secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGISTERED, ADOPTING, ROTATING, ROTATED, FAILED = (
    "registered",
    "adopting",
    "rotating",
    "rotated",
    "failed",
)
SECRET_CHANGING = frozenset({ADOPTING, ROTATING})


def journal_path(home: Path, backend_url: str) -> Path:
    """Where the journal of re-registering with `backend_url` lives."""
    key = hashlib.sha256(backend_url.rstrip("/").encode()).hexdigest()[:12]
    return home / "recovery" / f"reregister-{key}.jsonl"


@dataclass
class RegJournal:
    """The events so far (`last` event per node) and an append handle."""

    path: Path
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: int = 0

    @classmethod
    def open(cls, path: Path, fresh: bool = False) -> RegJournal:
        """Load `path` (cutting a torn last line), or start it; `fresh` moves an old one aside."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh and path.exists():
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            os.replace(path, path.with_name(f"{path.name}.{stamp}"))
        journal = cls(path)
        if not path.exists():
            return journal
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\n") + 1
            with open(path, "r+b") as fh:
                fh.truncate(cut)
                os.fsync(fh.fileno())
            raw = raw[:cut]
        for line in raw.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if event.get("event") == "run":
                journal.runs += 1
            elif isinstance(event.get("uid"), str):
                journal.last[event["uid"]] = event
        return journal

    def done(self, uid: str) -> bool:
        """True when `uid` was registered by an earlier run (or earlier in this one)."""
        event = self.last.get(uid, {}).get("event")
        return event in (REGISTERED, ROTATED)

    def secret_changing(self, uid: str) -> bool:
        """True when a run changed `uid`'s secret and may have died before rebuilding its NVS."""
        return self.last.get(uid, {}).get("event") in SECRET_CHANGING

    def append(self, event: str, uid: str | None = None, **fields: Any) -> None:
        """Write one event durably (append, flush, fsync)."""
        doc: dict[str, Any] = {"event": event, "at": _now()}
        if uid is not None:
            doc["uid"] = uid
        doc.update(fields)
        line = json.dumps(doc, sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        if uid is not None:
            self.last[uid] = doc
        else:
            self.runs += event == "run"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
