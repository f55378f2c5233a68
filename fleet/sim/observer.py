"""A recording MQTT client for tests of anything that talks to simulated nodes.

`Observer` is a real aiomqtt client (independent of the simulator's own wire code) that
keeps every message under its filters, reconnects when the broker restarts, and lets a
test wait for a condition without sleeping blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiomqtt

from fleet.protocol.topics import TIME_RESPONSE_TOPIC
from fleet.sim.broker import Broker


class Observer:
    """A real aiomqtt client that records every message under its filters."""

    def __init__(self, broker: Broker, filters: tuple[str, ...] = ("hydro/#",)) -> None:
        """Record messages of `broker` under `filters`; start with `async with`."""
        self.broker = broker
        self.filters = filters
        self.messages: list[tuple[str, bytes, bool]] = []
        self.times: list[float] = []  # time.time() of each message, parallel to `messages`
        self.count: Counter[str] = Counter()  # messages per topic (cheap to poll)
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.client: aiomqtt.Client | None = None

    async def __aenter__(self) -> Observer:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(5):
            await self._ready.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.broker.host, self.broker.port, identifier=f"obs-{id(self)}"
                ) as client:
                    self.client = client
                    for f in self.filters:
                        await client.subscribe(f, qos=1)
                    self._ready.set()
                    async for m in client.messages:
                        raw = m.payload
                        data = (
                            bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw).encode()
                        )
                        self.messages.append((str(m.topic), data, m.retain))
                        self.times.append(time.time())
                        self.count[str(m.topic)] += 1
                        self._changed.set()
            except aiomqtt.MqttError:
                self.client = None
                await asyncio.sleep(0.1)  # broker restarting: come back like a service would

    async def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Publish through the observer's own connection."""
        async with asyncio.timeout(5):
            while self.client is None:
                await asyncio.sleep(0.02)
        await self.client.publish(topic, payload, qos=1, retain=retain)

    def matching(self, topic: str) -> list[bytes]:
        """Payloads received on exactly `topic`, oldest first."""
        return [p for t, p, _ in self.messages if t == topic]

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait until `predicate()` is truthy; return its value (AssertionError on timeout)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    value = predicate()
                    if value:
                        return value
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    async def next_on(self, topic: str, after: int = 0, timeout: float = 5.0) -> bytes:
        """The first payload on `topic` beyond the first `after` ones."""
        got = await self.wait_for(
            lambda: self.matching(topic)[after:], timeout, what=f"a message on {topic}"
        )
        return bytes(got[0])

    async def answer_time(self) -> None:
        """Publish a time response (what the service does for `hydro/time/request`)."""
        now = int(time.time())
        body = {"message_type": "time_response", "unix_ts": now, "server_time": now}
        await self.publish(TIME_RESPONSE_TOPIC, json.dumps(body))
