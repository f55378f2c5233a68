"""Retention: which snapshots to keep, and why. Pure: no I/O, the clock is an argument.

Rules (each off when missing, zero or negative; never read as "keep 0"):
`keep_last` newest N; `keep_days` everything taken in the last D days; `keep_daily`,
`keep_weekly`, `keep_monthly` the newest snapshot of each of the last N days / ISO weeks /
months that have one (snapshots that failed verification don't fill a slot). Always kept,
whatever the rules: the newest snapshot that verified and is complete (or, if none has
verified yet, the newest snapshot), and anything dated after `now`. With no rule at all,
nothing is deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fleet.backup.settings import RetentionSettings


@dataclass(frozen=True)
class SnapshotInfo:
    """What retention needs to know of one snapshot.

    `verified`: True (last verification passed), False (failed), None (never verified).
    """

    id: str
    taken_at: dt.datetime
    verified: bool | None
    complete: bool = True

    @property
    def good(self) -> bool:
        """Verified and complete."""
        return self.verified is True and self.complete


@dataclass
class Decision:
    """Keep or delete one snapshot, with every reason that applied."""

    id: str
    taken_at: dt.datetime
    keep: bool = False
    reasons: list[str] = field(default_factory=list)


def _on(value: int | None) -> int:
    return value if value is not None and value > 0 else 0


def has_rules(policy: RetentionSettings) -> bool:
    """True when at least one keep rule is set to a positive number."""
    return any(
        _on(v)
        for v in (
            policy.keep_last,
            policy.keep_days,
            policy.keep_daily,
            policy.keep_weekly,
            policy.keep_monthly,
        )
    )


def _buckets(
    snaps: Sequence[SnapshotInfo],
    count: int,
    key: Callable[[dt.datetime], object],
    label: str,
    decisions: dict[str, Decision],
) -> None:
    seen: list[object] = []
    for snap in snaps:  # newest first
        if snap.verified is False:
            continue
        bucket = key(snap.taken_at)
        if bucket in seen:
            continue
        if len(seen) == count:
            break
        seen.append(bucket)
        _keep(decisions[snap.id], f"{label} {bucket}")


def _keep(decision: Decision, reason: str) -> None:
    decision.keep = True
    decision.reasons.append(reason)


def plan(
    snapshots: Sequence[SnapshotInfo], policy: RetentionSettings, now: dt.datetime
) -> list[Decision]:
    """A decision for every snapshot, newest first; see the module docstring for the rules."""
    snaps = sorted(snapshots, key=lambda s: (s.taken_at, s.id), reverse=True)
    decisions = {s.id: Decision(s.id, s.taken_at) for s in snaps}
    if not snaps:
        return []
    if not has_rules(policy):
        for d in decisions.values():
            _keep(d, "no retention rule is set: nothing is deleted")
        return list(decisions.values())
    good = [s for s in snaps if s.good]
    if good:
        _keep(decisions[good[0].id], "newest verified snapshot")
    else:
        _keep(decisions[snaps[0].id], "newest snapshot (none has verified)")
    for i, snap in enumerate(snaps):
        if snap.taken_at > now:
            _keep(decisions[snap.id], "dated after now")
        if i < _on(policy.keep_last):
            _keep(decisions[snap.id], f"keep_last {policy.keep_last}")
        days = _on(policy.keep_days)
        if days and snap.taken_at >= now - dt.timedelta(days=days):
            _keep(decisions[snap.id], f"within keep_days {days}")
    calendar: list[tuple[int | None, Callable[[dt.datetime], object], str]] = [
        (policy.keep_daily, lambda t: t.date().isoformat(), "daily"),
        (policy.keep_weekly, lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2]), "weekly"),
        (policy.keep_monthly, lambda t: t.strftime("%Y-%m"), "monthly"),
    ]
    for count, key, label in calendar:
        if _on(count):
            _buckets(snaps, _on(count), key, label, decisions)
    for d in decisions.values():
        if not d.keep:
            d.reasons.append("outside every retention rule")
    return list(decisions.values())
