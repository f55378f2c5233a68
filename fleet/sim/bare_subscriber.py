"""The baseline of the liveness benchmark: an aiomqtt subscriber that only counts.

`bench/liveness.py` runs this next to `fleet serve` on the same broker: whatever the
service processes is judged against what a client doing no work at all receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import aiomqtt

HEARTBEATS = "hydro/+/+/+/heartbeat"


@dataclass
class Count:
    """Messages received and over how long (from the first message to the last)."""

    received: int = 0
    first_at: float | None = None
    last_at: float | None = None

    @property
    def seconds(self) -> float:
        if self.first_at is None or self.last_at is None:
            return 0.0
        return self.last_at - self.first_at

    @property
    def rate(self) -> float:
        """Messages per second between the first and the last message."""
        return (self.received - 1) / self.seconds if self.seconds > 0 else 0.0


async def count_messages(
    host: str,
    port: int,
    duration: float,
    *,
    topic: str = HEARTBEATS,
    qos: int = 0,
    max_queued: int = 0,
    ready: asyncio.Event | None = None,
) -> Count:
    """Subscribe to `topic`, count messages for `duration` s, return the count.

    `max_queued` bounds aiomqtt's incoming queue (0: unbounded, its default). `ready` is
    set once the subscription is in place. Raises aiomqtt.MqttError if the broker is away.
    """
    count = Count()
    client = aiomqtt.Client(
        host,
        port,
        identifier=f"fleet-bare-{time.monotonic_ns() % 10**9}",
        max_queued_incoming_messages=max_queued,
    )
    async with client:
        await client.subscribe(topic, qos=qos)
        if ready is not None:
            ready.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                async for _ in client.messages:
                    now = time.monotonic()
                    if count.first_at is None:
                        count.first_at = now
                    count.last_at = now
                    count.received += 1
    return count
