"""`fleet recover nodes` as a user runs it: real subprocesses against the backend double."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fleet.context import FleetContext
from fleet.reregister.journal import RegJournal
from fleet.sim.backend import BackendDouble
from fleet.vault.store import NODE_SECRET

FLEET_EXE = Path(sys.executable).parent / "fleet"
MakeHome = Callable[..., Path]
RunFleet = Callable[..., subprocess.CompletedProcess[str]]
LibCtx = Callable[[Path], FleetContext]


def journal_of(home: Path) -> RegJournal:
    """The one re-registration journal under `home`."""
    return RegJournal.open(next((home / "recovery").glob("reregister-*.jsonl")))


def test_bad_token_exits_77_and_marks_nothing(
    make_home: MakeHome, double: BackendDouble, run_fleet: RunFleet, tmp_path: Path
) -> None:
    """A refused token stops the run with exit code 77, names the backend, registers nothing."""
    home = make_home(10, double.url)
    bad = tmp_path / "bad.token"
    bad.write_text("not-the-token", encoding="utf-8")
    bad.chmod(0o600)
    done = run_fleet(home, "recover", "nodes", "--yes", "--token-file", str(bad))
    assert 77 == done.returncode
    assert f"backend {double.url} refused the token (HTTP 401)" in done.stderr
    assert "not-the-token" not in done.stdout + done.stderr
    journal = journal_of(home)
    assert [] == [uid for uid in journal.last if journal.done(uid)]


def test_token_file_readable_by_others_is_refused(
    make_home: MakeHome, double: BackendDouble, run_fleet: RunFleet, token_file: Path
) -> None:
    """A token file with mode 0644 is refused (exit 78) before any request is sent."""
    home = make_home(2, double.url)
    token_file.chmod(0o644)
    done = run_fleet(home, "recover", "nodes", "--yes", "--json", "--token-file", str(token_file))
    assert 78 == done.returncode
    assert "chmod 600" in json.loads(done.stdout)["message"]
    assert [] == double.log


def test_plan_sends_nothing_and_groups_station_queue(
    make_home: MakeHome, double: BackendDouble, run_fleet: RunFleet
) -> None:
    """--plan --json reports the work and the queue by chip, and no request reaches the backend."""
    home = make_home(12, double.url)
    done = run_fleet(home, "recover", "nodes", "--plan", "--json")
    assert 0 == done.returncode, done.stderr
    plan = json.loads(done.stdout)
    assert (12, 0, 12, 1) == (plan["nodes"], plan["already"], plan["todo"], plan["floor_windows"])
    assert {"esp32": 9, "esp32c3": 3} == {k: len(v) for k, v in plan["station_queue"].items()}
    assert [] == double.log


def test_without_yes_and_no_terminal_refuses(
    make_home: MakeHome, double: BackendDouble, run_fleet: RunFleet, token_file: Path
) -> None:
    """Without --yes and without a terminal to ask on, nothing is sent (exit 2)."""
    home = make_home(2, double.url)
    done = run_fleet(home, "recover", "nodes", "--token-file", str(token_file))
    assert 2 == done.returncode
    assert [] == double.log


def test_killed_run_resumes_and_registers_each_node_once(
    make_home: MakeHome, double: BackendDouble, run_fleet: RunFleet, token: str
) -> None:
    """kill -9 mid-run, then a re-run: every node is registered, none done before is re-sent."""
    home = make_home(150, double.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["FLEET_BACKEND__TOKEN"] = token
    proc = subprocess.Popen(
        [str(FLEET_EXE), "--home", str(home), "recover", "nodes", "--yes", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(double.log) < 40 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = journal_of(home)
    done_first = {uid for uid in first.last if first.done(uid)}
    sent_first = len(double.log)
    assert 0 < len(done_first) < 150
    rerun = run_fleet(
        home, "recover", "nodes", "--yes", "--json", env={"FLEET_BACKEND__TOKEN": token}
    )
    assert 0 == rerun.returncode, rerun.stderr
    report = json.loads(rerun.stdout)
    assert (len(done_first), 150 - len(done_first)) == (
        len(report["already"]),
        len(report["registered"]),
    )
    resent = {e.node_uid for e in double.log[sent_first:]}
    assert set() == resent & done_first
    assert 150 == len(double.rows)
    assert {1} == {r.registrations for r in double.rows.values() if r.uid in done_first}
    assert {201} == {e.status for e in double.log}


def test_json_report_and_no_secret_on_disk_or_output(
    make_home: MakeHome,
    double: BackendDouble,
    run_fleet: RunFleet,
    token_file: Path,
    lib_ctx: LibCtx,
) -> None:
    """Adopted and rotated secrets never appear in output, the journal or any file of the home."""
    home = make_home(6, double.url)
    ctx = lib_ctx(home)
    for uid in ("nd-ph-1", "nd-ph-2"):
        for info in ctx.vault.history(NODE_SECRET, uid):
            ctx.vault.delete(info.id)
    double.preseed("nd-ph-1", "esp32-00a000000001", "d1" * 32)
    double.send_secret = True
    args = ["recover", "nodes", "--yes", "--json", "--token-file", str(token_file)]
    first = run_fleet(home, *args)
    double.send_secret = False
    double.rows.clear()  # the backend lost everything too: nd-ph-2's secret is gone everywhere
    for info in ctx.vault.history(NODE_SECRET, "nd-ph-2"):
        ctx.vault.delete(info.id)
    second = run_fleet(home, *args, "--fresh", "--rotate-lost-secrets")
    assert (0, 0) == (first.returncode, second.returncode), first.stderr + second.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert 6 == len(one["registered"])
    assert {"nd-ph-1", "nd-ph-2"} <= set(one["secrets_adopted"])
    assert (["nd-ph-2"], 6) == (two["secrets_rotated"], len(two["registered"]))
    for key in ("failed", "requests", "throttled", "elapsed", "station_queue", "already"):
        assert key in two
    secrets = {ctx.vault.node_secret(n.uid) for n in ctx.registry.list_nodes()}
    secrets |= {"d1" * 32}
    ctx.registry.engine.dispose()
    text = first.stdout + first.stderr + second.stdout + second.stderr
    assert [] == [s for s in secrets if s in text]
    leaks = [
        str(p)
        for p in home.rglob("*")
        if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)
    ]
    assert [] == leaks
