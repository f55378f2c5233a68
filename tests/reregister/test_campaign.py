"""The re-registration campaign against the backend double, through the library."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.reregister.backend import BackendUnauthorized, BackendUnreachable
from fleet.reregister.journal import RegJournal
from fleet.reregister.run import ReregisterReport
from fleet.sim.backend import BackendDouble

MakeHome = Callable[..., Path]
RunLib = Callable[..., ReregisterReport]


def test_150_nodes_paced_under_the_limits_never_throttled(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """150 nodes against 120/window per IP finish with one request each and no 429 at all."""
    home = make_home(150, double.url)
    report = run_lib(home)
    assert (150, [], 0) == (len(report.registered), report.failed, report.throttled)
    assert 150 == report.requests
    assert {201: 150} == double.statuses()
    assert 150 == len(double.rows)
    assert ["esp32", "esp32c3"] == sorted(report.station_queue)
    assert 30 == len(report.station_queue["esp32c3"])
    assert all(e.ready for q in report.station_queue.values() for e in q)


def test_injected_5xx_and_429_are_retried(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """Three 503s and two 429s (without Retry-After) are retried until every node is in."""
    home = make_home(6, double.url)
    double.fail_next(3)
    double.throttle_next(2, retry_after=None)
    report = run_lib(home)
    assert (6, []) == (len(report.registered), report.failed)
    assert (2, 3, 5) == (report.throttled, report.server_errors, report.retries)
    assert 11 == report.requests
    assert 6 == len(double.rows)


def test_retry_after_is_honoured(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """A 429 with Retry-After: 1 is waited out, and the node then registers."""
    home = make_home(1, double.url)
    double.throttle_next(1, retry_after=1)
    report = run_lib(home)
    assert ["nd-light-0"] == report.registered
    log = double.log
    assert [429, 201] == [e.status for e in log]
    assert 1.0 <= log[1].at - log[0].at


def test_refused_node_is_recorded_and_retried_next_run(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """A node upstream holds under another uid is reported failed with why; a re-run retries it."""
    home = make_home(3, double.url)
    double.preseed("nd-ph-9", "esp32-00a000000001", None)  # hardware_id of nd-ph-1
    report = run_lib(home)
    assert ["nd-ph-1"] == [f["uid"] for f in report.failed]
    assert "nd-ph-9" in report.failed[0]["reason"]
    assert 75 == report.exit_code
    again = run_lib(home)
    assert (["nd-light-0", "nd-ph-2"], ["nd-ph-1"]) == (
        sorted(again.already),
        [f["uid"] for f in again.failed],
    )


def test_bad_token_stops_at_once_and_marks_nothing(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """A 401 raises BackendUnauthorized after the first answers; no node is journaled done."""
    home = make_home(20, double.url)
    with pytest.raises(BackendUnauthorized) as caught:
        run_lib(home, token="wrong-token")
    assert 77 == caught.value.exit_code
    assert "wrong-token" not in caught.value.message
    assert 8 >= len(double.log)  # at most one request per worker (concurrency 8)
    journal = RegJournal.open(next((home / "recovery").glob("reregister-*.jsonl")))
    assert [] == [uid for uid in journal.last if journal.done(uid)]
    assert {} == double.rows


def test_rerun_skips_registered_nodes(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """A second run sends nothing and reports every node as registered earlier."""
    home = make_home(5, double.url)
    run_lib(home)
    before = len(double.log)
    again = run_lib(home)
    assert (5, [], before) == (len(again.already), again.registered, len(double.log))
    assert 0 == again.exit_code


def test_other_4xx_is_final_and_recorded(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """A 422 is not retried: the node is reported failed with the status and the reason."""
    home = make_home(1, double.url)
    double.fail_next(1, status=422)
    report = run_lib(home)
    assert [{"uid": "nd-light-0", "status": 422, "reason": "Server Error", "attempts": 1}] == (
        report.failed
    )
    assert 1 == report.requests


def test_timeouts_are_retried(make_home: MakeHome, double: BackendDouble, run_lib: RunLib) -> None:
    """Two answers slower than the client's timeout are retried; every node registers."""
    home = make_home(2, double.url, timeout=0.3)
    double.slow_next(2, 1.0)
    report = run_lib(home)
    assert (2, [], 2) == (len(report.registered), report.failed, report.retries)
    assert 2 == len(double.rows)


def test_backend_that_never_answers_stops_the_run(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """A backend that answers nothing in time ends the run with BackendUnreachable (exit 69)."""
    home = make_home(3, double.url, timeout=0.2, max_attempts=2)
    double.delay = 0.6
    with pytest.raises(BackendUnreachable) as caught:
        run_lib(home)
    assert 69 == caught.value.exit_code


def test_hello_mode_registers_with_provisioning_meta(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """mode = "hello" sends node_hello bodies; the backend's rows carry our uids and types."""
    home = make_home(3, double.url, mode="hello")
    report = run_lib(home)
    assert 3 == len(report.registered)
    rows = sorted((r.uid, r.hardware_id, r.type) for r in double.rows.values())
    assert [
        ("nd-light-0", "esp32-00a000000000", "light"),
        ("nd-ph-1", "esp32-00a000000001", "ph"),
        ("nd-ph-2", "esp32-00a000000002", "ph"),
    ] == rows


def test_retries_of_one_node_stay_under_the_per_identity_limit(
    make_home: MakeHome, double: BackendDouble, run_lib: RunLib
) -> None:
    """Twelve 503s for one node: its 13 requests are paced under 10 per window, never a 429."""
    home = make_home(1, double.url, max_attempts=14, backoff_base=0.01, backoff_max=0.02)
    double.fail_next(12)
    report = run_lib(home)
    assert (["nd-light-0"], 13, 0) == (report.registered, report.requests, report.throttled)
    assert {503: 12, 201: 1} == double.statuses()
