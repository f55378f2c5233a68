"""Pacing for the backend's sliding-window limits: token buckets that never overshoot.

The backend allows `limit` requests in any sliding `window` seconds. A bucket of capacity 1
refilled at `(limit - 1) / (window + slack)` per second spaces grants so that any `window`
holds at most `limit - 1` of them, plus `slack` seconds to absorb the jitter between our
clock and the moment a request reaches the server. Pure: the clock is injected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


def default_slack(window: float) -> float:
    """max(0.25 s, 2 % of the window): room for jitter between our clock and the server's."""
    return max(0.25, 0.02 * window)


def safe_rate(limit: int, window: float, slack: float | None = None) -> float:
    """Requests per second that stay under `limit` per sliding `window`, with `slack` seconds.

    The default slack, max(0.25 s, 2 % of the window), absorbs scheduling jitter on a busy
    machine; upstream (60 s) that is 1.2 s, i.e. 1.94 requests/s against 120/min.
    """
    if limit < 2 or window <= 0:
        raise ValueError(f"a limit of {limit} per {window} s cannot be paced")
    if slack is None:
        slack = default_slack(window)
    return (limit - 1) / (window + slack)


class TokenBucket:
    """Capacity-1 bucket: `reserve()` books the next slot and says how long to wait for it.

    Reservations queue up as debt, so concurrent callers are served in the order they
    reserved, each one `1 / rate` seconds after the previous.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.clock = clock
        self._tokens = 1.0
        self._last = clock()

    def _refill(self) -> float:
        now = self.clock()
        self._tokens = min(1.0, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return now

    def reserve(self) -> float:
        """Take the next slot; seconds to wait before using it (0 when it is free now)."""
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def hold(self, seconds: float) -> None:
        """Grant nothing for the next `seconds` (e.g. the server asked us to back off)."""
        self._refill()
        self._tokens = min(self._tokens, 1.0 - seconds * self.rate)

    def seconds_for(self, n: int) -> float:
        """How long `n` more grants take at this rate, from now (an ETA)."""
        self._refill()
        return max(0.0, (n - self._tokens) / self.rate)


class SlidingLog:
    """The send times of the last `window`: a guard that holds even when senders run late.

    A bucket schedules slots; a sender woken late (a busy event loop) would send its slot
    and the next ones in a burst. `wait()` checks the real send times instead: it is 0 only
    when fewer than `limit` sends fall within the last `window` seconds, and `record()`
    notes a send.
    """

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._sends: deque[float] = deque()

    def wait(self) -> float:
        """Seconds until one more send fits (0: now)."""
        now = self.clock()
        while self._sends and self._sends[0] <= now - self.window:
            self._sends.popleft()
        if len(self._sends) < self.limit:
            return 0.0
        return self._sends[0] + self.window - now

    def record(self) -> None:
        """Note one send, now."""
        self._sends.append(self.clock())
