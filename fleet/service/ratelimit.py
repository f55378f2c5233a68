"""Token buckets for command rate limits (pure: the caller passes the time)."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens per second, at most `burst` stored; starts full."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("need rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> bool:
        """Take one token if available; True when taken."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class RateLimiter:
    """A global bucket plus one bucket per key (node); a send needs a token from both."""

    def __init__(self, per_key: float, global_rate: float, now: float = 0.0) -> None:
        self.per_key = per_key
        self.global_bucket = TokenBucket(global_rate, max(1.0, global_rate), now)
        self.buckets: dict[str, TokenBucket] = {}

    def wait_time(self, key: str, now: float) -> float:
        """Seconds until `key` may send (0 = now)."""
        bucket = self.buckets.get(key)
        own = bucket.wait_time(now) if bucket else 0.0
        return max(own, self.global_bucket.wait_time(now))

    def take(self, key: str, now: float) -> bool:
        """Consume a token for `key` and the global bucket if both have one."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(self.per_key, max(1.0, self.per_key), now)
        if bucket.wait_time(now) > 0 or self.global_bucket.wait_time(now) > 0:
            return False
        bucket.take(now)
        self.global_bucket.take(now)
        return True
