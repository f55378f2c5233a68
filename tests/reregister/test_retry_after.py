"""No registration leaves during a Retry-After window, even from workers already waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fleet.reregister.backend import Answer, Counters, HttpRegistrar, PacedRegistrar
from fleet.sim.backend import BackendDouble

TOKEN = "tok-retry-after"


class Recording:
    """Wraps the real HTTP registrar and notes when each request left and each 429 came back."""

    def __init__(self, inner: HttpRegistrar) -> None:
        self.inner = inner
        self.sent: list[float] = []
        self.throttled_at: list[float] = []

    async def register(self, identity: str, body: dict[str, Any]) -> Answer:
        self.sent.append(time.monotonic())
        answer = await self.inner.register(identity, body)
        if answer.status == 429:
            self.throttled_at.append(time.monotonic())
        return answer


def test_nothing_is_sent_while_the_backend_asked_us_to_wait() -> None:
    """After a 429 with Retry-After: 2, no already-scheduled request leaves for 2 seconds."""
    double = BackendDouble(TOKEN, per_identity=100, per_ip=13, window=1.0)
    double.start()
    http = HttpRegistrar(double.url, TOKEN, 5.0, Counters())
    recording = Recording(http)

    async def run() -> None:
        # 13 per second: slots ~0.1 s apart, so all eight workers book theirs at once and wait
        paced = PacedRegistrar(recording, per_ip=13, per_identity=100, window=1.0)
        double.throttle_next(1, retry_after=2)

        async def one(i: int) -> None:
            await paced.register(f"nd-ph-{i}", {"node_uid": f"nd-ph-{i}"})

        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(8):
                    tg.create_task(one(i))
        finally:
            await http.aclose()

    try:
        asyncio.run(run())
    finally:
        double.stop()
    assert 1 == len(recording.throttled_at)
    told = recording.throttled_at[0]
    inside = [t for t in recording.sent if told <= t < told + 2.0]
    assert [] == inside, f"{len(inside)} requests left inside the Retry-After window"
    assert 8 == len(recording.sent)
    assert 8 == len(double.log)
