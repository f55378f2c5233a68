"""WAL retention plan: only WAL no kept base backup needs, and only past the window."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from fleet.backup.postgres.lsn import segment_name, segment_number
from fleet.backup.postgres.wal import WalFile, prune_plan

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _file(name: str, days_old: float) -> WalFile:
    at = (NOW - dt.timedelta(days=days_old)).isoformat()
    return WalFile(name, int(name[:8], 16), 1, "0" * 64, "0" * 64, at)


def _history(ages: list[int]) -> list[WalFile]:
    return [_file(segment_name(1, n), age) for n, age in enumerate(ages)]


def test_only_old_segments_before_the_oldest_kept_base_backup_go() -> None:
    """Old WAL before the base backup goes; old WAL after it and new WAL before it stay."""
    files = [*_history([30, 3, 28, 27, 26, 2, 1]), _file("00000002.history", 30)]
    base = (1, 3)  # the kept base backup starts in segment 3
    cutoff = NOW - dt.timedelta(days=7)
    doomed = prune_plan(files, base, cutoff)
    assert [segment_name(1, 0), segment_name(1, 2)] == [f.name for f in doomed]


def test_missing_setting_or_no_base_backup_deletes_nothing() -> None:
    """No cutoff (setting missing or zero) or no kept base backup: the plan is empty."""
    files = _history([300, 200, 100])
    assert [] == prune_plan(files, None, NOW)
    assert [] == prune_plan(files, (1, 2), None)


@given(
    ages=st.lists(st.integers(0, 60), min_size=1, max_size=40),
    start=st.integers(0, 45),
    window=st.integers(1, 30),
)
def test_never_deletes_wal_a_kept_base_backup_needs(
    ages: list[int], start: int, window: int
) -> None:
    """Over generated archives, nothing at or after the base backup's start segment goes."""
    files = _history(ages)
    doomed = prune_plan(files, (1, start), NOW - dt.timedelta(days=window))
    assert all(segment_number(f.name) < start for f in doomed)
    assert all(
        dt.datetime.fromisoformat(f.archived_at) < NOW - dt.timedelta(days=window) for f in doomed
    )
