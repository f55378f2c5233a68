"""Broker-restore detection (pure): long outage, `$SYS/broker/uptime` going back, or asked.

Mosquitto publishes `$SYS/broker/uptime` as e.g. `"1234 seconds"`; a value lower than
the last one seen means the broker process restarted, even when our own outage was
too short to notice.
"""

from __future__ import annotations

from dataclasses import dataclass


def parse_uptime(payload: bytes) -> int | None:
    """Seconds from a `$SYS/broker/uptime` payload, or None when it is not `<int> seconds`."""
    try:
        head = payload.decode("ascii").split()[0]
        return int(head)
    except (UnicodeDecodeError, IndexError, ValueError):
        return None


@dataclass
class RestoreDetector:
    """Says when the broker should be treated as restored; one reason per detection."""

    outage_threshold: float
    disconnected_at: float | None = None
    last_uptime: int | None = None
    last_uptime_at: float | None = None

    def lost(self, now: float) -> None:
        """The service lost the broker at `now`."""
        if self.disconnected_at is None:
            self.disconnected_at = now

    def connected(self, now: float) -> str | None:
        """The service (re)connected; returns a reason when the outage counts as a restore."""
        started, self.disconnected_at = self.disconnected_at, None
        if started is not None and now - started > self.outage_threshold:
            return f"outage of {now - started:.0f}s"
        return None

    def uptime(self, seconds: int, now: float) -> str | None:
        """A `$SYS/broker/uptime` value; returns a reason when it went backwards."""
        prev, prev_at = self.last_uptime, self.last_uptime_at
        self.last_uptime, self.last_uptime_at = seconds, now
        if prev is None or prev_at is None:
            return None
        expected = prev + (now - prev_at)
        # $SYS values lag by up to sys_interval; a restart shows as a big drop
        if seconds < prev and seconds + 5 < expected:
            return f"broker uptime went back from {prev}s to {seconds}s"
        return None
