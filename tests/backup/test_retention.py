"""Retention over generated histories: never the newest good snapshot, never on a missing
or zero setting, and each rule keeps exactly what it promises."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.backup.retention import SnapshotInfo, plan
from fleet.backup.settings import RetentionSettings

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def snap(days_ago: float, verified: bool | None = True, complete: bool = True) -> SnapshotInfo:
    """A snapshot taken `days_ago` before NOW."""
    taken = NOW - dt.timedelta(days=days_ago)
    return SnapshotInfo(
        taken.strftime("%Y%m%dT%H%M%SZ") + f"-{int(days_ago * 1e4) % 16**6:06x}",
        taken,
        verified,
        complete,
    )


histories = st.lists(
    st.builds(
        snap,
        st.floats(min_value=0, max_value=400, allow_nan=False),
        st.sampled_from([True, False, None]),
        st.booleans(),
    ),
    max_size=40,
    unique_by=lambda s: s.id,
)
rule = st.one_of(st.none(), st.integers(min_value=-3, max_value=12))
policies = st.builds(
    RetentionSettings,
    keep_days=rule,
    keep_daily=rule,
    keep_weekly=rule,
    keep_monthly=rule,
    keep_last=rule,
)


def kept(snaps: list[SnapshotInfo], policy: RetentionSettings) -> set[str]:
    """Ids the plan keeps."""
    return {d.id for d in plan(snaps, policy, NOW) if d.keep}


@settings(max_examples=300, deadline=None)
@given(histories, policies)
def test_the_newest_good_snapshot_is_never_deleted(
    snaps: list[SnapshotInfo], policy: RetentionSettings
) -> None:
    """Whatever the history and policy, the newest verified complete snapshot stays."""
    good = sorted((s for s in snaps if s.good), key=lambda s: s.taken_at)
    if good:
        assert good[-1].id in kept(snaps, policy)


@settings(max_examples=300, deadline=None)
@given(histories, policies)
def test_something_is_always_kept_and_every_decision_has_a_reason(
    snaps: list[SnapshotInfo], policy: RetentionSettings
) -> None:
    """A non-empty repository never loses every snapshot; each decision says why."""
    decisions = plan(snaps, policy, NOW)
    assert len(snaps) == len(decisions)
    if snaps:
        assert any(d.keep for d in decisions)
    assert all(d.reasons for d in decisions)


@settings(max_examples=200, deadline=None)
@given(histories, st.sampled_from([None, 0, -1]))
def test_missing_or_zero_settings_delete_nothing(
    snaps: list[SnapshotInfo], value: int | None
) -> None:
    """A policy whose every rule is missing, zero or negative keeps every snapshot."""
    policy = RetentionSettings(
        keep_days=value, keep_daily=value, keep_weekly=value, keep_monthly=value, keep_last=value
    )
    assert {s.id for s in snaps} == kept(snaps, policy)


@settings(max_examples=200, deadline=None)
@given(histories, st.integers(min_value=1, max_value=60))
def test_keep_days_keeps_everything_inside_the_window(snaps: list[SnapshotInfo], days: int) -> None:
    """Every snapshot taken in the last `keep_days` days is kept."""
    inside = {s.id for s in snaps if s.taken_at >= NOW - dt.timedelta(days=days)}
    assert inside <= kept(snaps, RetentionSettings(keep_days=days))


@settings(max_examples=200, deadline=None)
@given(histories, st.integers(min_value=1, max_value=10))
def test_keep_daily_keeps_the_newest_of_each_recent_day(snaps: list[SnapshotInfo], n: int) -> None:
    """keep_daily N keeps the newest usable snapshot of each of the N newest days that have one."""
    policy = RetentionSettings(keep_days=None, keep_daily=n)
    by_day: dict[dt.date, SnapshotInfo] = {}
    for s in sorted(snaps, key=lambda s: (s.taken_at, s.id)):
        if s.verified is not False:
            by_day[s.taken_at.date()] = s
    expected = {by_day[d].id for d in sorted(by_day, reverse=True)[:n]}
    assert expected <= kept(snaps, policy)


def test_default_policy_is_the_seeds_30_days() -> None:
    """With no [backup.retention] table, snapshots are kept 30 days."""
    snaps = [snap(1), snap(29), snap(31), snap(90)]
    assert {snaps[0].id, snaps[1].id} == kept(snaps, RetentionSettings())


def test_all_snapshots_older_than_the_window_keep_the_newest_verified() -> None:
    """When every snapshot is past the window, the newest verified one survives, only it."""
    snaps = [snap(40), snap(50), snap(60)]
    assert {snaps[0].id} == kept(snaps, RetentionSettings(keep_days=30))


def test_newest_snapshot_failed_verification_keeps_the_last_good_one() -> None:
    """A failed newest snapshot does not push the last good one out of the window."""
    snaps = [snap(1, verified=False), snap(45, verified=True), snap(50, verified=True)]
    assert {snaps[0].id, snaps[1].id} == kept(snaps, RetentionSettings(keep_days=30))


def test_incomplete_snapshot_is_not_the_pinned_good_one() -> None:
    """A snapshot with a failed layer is not taken as the newest good snapshot."""
    snaps = [snap(40, complete=False), snap(45)]
    assert {snaps[1].id} == kept(snaps, RetentionSettings(keep_days=30))


def test_nothing_verified_keeps_the_newest() -> None:
    """With no verified snapshot at all, the newest snapshot is kept."""
    snaps = [snap(40, verified=None), snap(45, verified=None)]
    assert {snaps[0].id} == kept(snaps, RetentionSettings(keep_days=30))


def test_weekly_and_monthly_buckets() -> None:
    """keep_weekly / keep_monthly keep the newest snapshot of each recent week / month."""
    snaps = [snap(d) for d in (0, 1, 8, 9, 35, 36, 70)]
    weekly = kept(snaps, RetentionSettings(keep_days=None, keep_weekly=2))
    assert {snaps[0].id, snaps[2].id} <= weekly
    assert snaps[3].id not in weekly
    monthly = kept(snaps, RetentionSettings(keep_days=None, keep_monthly=3))
    assert snaps[6].id in monthly
