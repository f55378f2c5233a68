"""Reboot pacing: when each node of a campaign gets its command (pure, seeded).

Nodes go out in one-second waves of `rate` nodes; inside a wave each node's moment is
jittered so that the broker sees a spread rather than a burst (the same idea as Home
Assistant's random delay for re-announcements). The plan depends only on its inputs,
so a resumed campaign recomputes the same plan.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Slot:
    """Send to `uid` at `offset` seconds after the campaign starts (wave `wave`)."""

    offset: float
    uid: str
    wave: int


def plan(uids: Sequence[str], rate: float, jitter: float = 1.0, seed: int = 0) -> list[Slot]:
    """The pacing plan for `uids` at `rate` nodes/s; sorted by offset.

    Contract: at most ceil(rate) nodes fall in any wave [k, k+1) seconds; with
    `jitter` = 0 the nodes of a wave are evenly spaced; the last offset is below
    ceil(len(uids) / rate). Raises ValueError on a rate <= 0 or jitter outside [0, 1].
    """
    if rate <= 0:
        raise ValueError("rate must be > 0")
    if not 0 <= jitter <= 1:
        raise ValueError("jitter must be within [0, 1]")
    per_wave = max(1, math.floor(rate))
    step = 1.0 / per_wave
    rng = random.Random(seed)
    slots: list[Slot] = []
    for i, uid in enumerate(uids):
        wave, pos = divmod(i, per_wave)
        # seconds per wave stretch when rate < 1 (one node every 1/rate seconds)
        wave_len = 1.0 if rate >= 1 else 1.0 / rate
        base = wave * wave_len + pos * step * wave_len
        offset = base + rng.uniform(0.0, jitter * step * wave_len)
        slots.append(Slot(offset=offset, uid=uid, wave=wave))
    slots.sort(key=lambda s: s.offset)
    return slots


def floor_seconds(count: int, rate: float) -> float:
    """The least time `count` nodes can take at `rate` nodes/s (the benchmark's floor)."""
    return count / rate if count else 0.0
