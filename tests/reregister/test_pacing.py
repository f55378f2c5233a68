"""Pure parts: pacing never exceeds a sliding-window limit; the journal survives a torn line."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.reregister.backend import parse_retry_after
from fleet.reregister.journal import REGISTERED, RegJournal
from fleet.reregister.pacing import SlidingLog, TokenBucket, safe_rate


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=2, max_value=200),
    window=st.floats(min_value=0.5, max_value=120),
    n=st.integers(min_value=1, max_value=600),
)
def test_bucket_grants_never_exceed_limit_in_any_window(limit: int, window: float, n: int) -> None:
    """Grants of a bucket at safe_rate(limit, window): no window of that length holds more."""
    now = [0.0]
    bucket = TokenBucket(safe_rate(limit, window), lambda: now[0])
    grants = [bucket.reserve() for _ in range(n)]  # all reserve at t=0: times are the waits
    worst = max(sum(1 for g in grants if start <= g < start + window + 1e-9) for start in grants)
    assert worst <= limit - 1


def test_hold_delays_the_next_grant() -> None:
    """After hold(5), the next grant waits five seconds."""
    now = [0.0]
    bucket = TokenBucket(2.0, lambda: now[0])
    bucket.hold(5.0)
    assert 5.0 == bucket.reserve()


def test_retry_after_forms() -> None:
    """Retry-After as seconds or an HTTP date; junk is ignored."""
    assert 7.0 == parse_retry_after("7")
    assert 30.0 == parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=30.0)
    assert None is parse_retry_after("soon")


def test_journal_cuts_a_torn_line_and_keeps_the_rest(tmp_path: Path) -> None:
    """A half-written last line (kill -9) is cut off; earlier events and later appends are kept."""
    path = tmp_path / "j.jsonl"
    journal = RegJournal.open(path)
    journal.append(REGISTERED, "nd-ph-1", status=201)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"event": "registered", "uid": "nd-p')
    again = RegJournal.open(path)
    again.append(REGISTERED, "nd-ph-2", status=201)
    final = RegJournal.open(path)
    assert (True, True) == (final.done("nd-ph-1"), final.done("nd-ph-2"))
    assert 2 == len(path.read_text(encoding="utf-8").splitlines())


def test_sliding_log_stops_a_late_burst() -> None:
    """Senders woken late cannot burst past the limit: the log of real send times holds them."""
    now = [0.0]
    log = SlidingLog(3, 10.0, lambda: now[0])
    for _ in range(3):
        assert 0.0 == log.wait()
        log.record()
    now[0] = 4.0
    assert 6.0 == log.wait()
    now[0] = 10.5
    assert 0.0 == log.wait()
