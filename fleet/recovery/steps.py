"""The actions of a site recovery's steps: put files back in place, run post-restore commands.

Putting back never deletes what the recovery did not create: a restored item is prepared
beside its destination (`.<name>.fleet-restoring-<tag>`), the existing content (if it
differs) is renamed to `<name>.before-restore-<tag>`, then the prepared item is renamed into
place. Identical content is left alone ("unchanged"), which is what makes a step idempotent:
re-running it after a crash finds the items it already placed equal and moves on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fleet.errors import LayerError

CRASH_ENV = "FLEET_TEST_CRASH_AT"
_CHUNK = 1024 * 1024


def crash_point(step: str) -> None:
    """Test hook: SIGKILL this process when `FLEET_TEST_CRASH_AT` names `step`.

    Steps call it in their middle (part of the work done, not journaled as finished) so that
    tests can prove a killed recovery resumes.
    """
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def tree_facts(path: Path) -> list[tuple[str, str, str]]:
    """(relative path, type+mode, content digest or link target) of `path` and below, sorted."""
    out: list[tuple[str, str, str]] = []

    def walk(p: Path, rel: str) -> None:
        st = p.lstat()
        mode = format(stat.S_IMODE(st.st_mode), "o")
        if stat.S_ISLNK(st.st_mode):
            out.append((rel, "l", os.readlink(p)))
        elif stat.S_ISDIR(st.st_mode):
            out.append((rel, "d" + mode, ""))
            for name in sorted(os.listdir(p)):
                walk(p / name, f"{rel}/{name}")
        elif stat.S_ISREG(st.st_mode):
            out.append((rel, "f" + mode, _file_sha(p)))
        else:
            out.append((rel, "?", ""))

    walk(path, ".")
    return out


def same_tree(a: Path, b: Path) -> bool:
    """True when `a` and `b` hold the same names, types, modes, bytes and link targets."""
    return tree_facts(a) == tree_facts(b)


def _free_name(path: Path) -> Path:
    if not path.exists() and not path.is_symlink():
        return path
    n = 1
    while True:
        cand = path.with_name(f"{path.name}.{n}")
        if not cand.exists() and not cand.is_symlink():
            return cand
        n += 1


def _remove_ours(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def put_back(staged: Path, dest: Path, tag: str, only_missing: bool = False) -> dict[str, Any]:
    """Place `staged` at `dest`; returns `{"path", "result", "aside"?}`.

    `result`: `restored`, `unchanged` (equal content already there) or, with `only_missing`,
    `kept` (something is there; left as it is).
    """
    present = dest.exists() or dest.is_symlink()
    if present and only_missing:
        return {"path": str(dest), "result": "kept"}
    if present and same_tree(staged, dest):
        return {"path": str(dest), "result": "unchanged"}
    dest.parent.mkdir(parents=True, exist_ok=True)
    prepared = dest.with_name(f".{dest.name}.fleet-restoring-{tag}")
    _remove_ours(prepared)
    shutil.move(str(staged), str(prepared))
    out: dict[str, Any] = {"path": str(dest), "result": "restored"}
    if dest.exists() or dest.is_symlink():
        aside = _free_name(dest.with_name(f"{dest.name}.before-restore-{tag}"))
        os.replace(dest, aside)
        out["aside"] = str(aside)
    os.replace(prepared, dest)
    return out


def put_back_all(
    pairs: Iterable[tuple[Path, Path]], tag: str, step: str, only_missing: bool = False
) -> list[dict[str, Any]]:
    """`put_back` each (staged, destination) pair whose staged item exists; crash hook midway."""
    results = []
    for staged, dest in pairs:
        if not staged.exists() and not staged.is_symlink():
            continue
        results.append(put_back(staged, dest, tag, only_missing))
        if len(results) == 1:
            crash_point(step)
    return results


def run_commands(layer: str, commands: Iterable[str], timeout: float) -> list[dict[str, Any]]:
    """Run each post-restore shell command in order; `LayerError` naming the first that fails.

    Their output is not kept (it may print secrets); the report has the exit code and time.
    """
    done = []
    for cmd in commands:
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                ["/bin/sh", "-c", cmd],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LayerError(
                layer, f"post-restore command {cmd!r} did not finish within {timeout:.0f} s"
            ) from None
        seconds = round(time.monotonic() - t0, 3)
        if proc.returncode != 0:
            last = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise LayerError(
                layer,
                f"post-restore command {cmd!r} exited with {proc.returncode}: {last[0][:200]}",
            )
        done.append({"command": cmd, "exit_code": 0, "seconds": seconds})
    return done
