"""Reconnect delays: jittered exponential backoff ("full jitter")."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from `base` up to `cap`, each drawn uniformly in [base/2, d]."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        self.attempt = 0
        self.rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay before the next attempt (grows with every call until `reset`)."""
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return self.rng.uniform(min(self.base / 2, ceiling), ceiling)

    def reset(self) -> None:
        """A connection succeeded: start again from `base`."""
        self.attempt = 0
