"""Answers `hydro/time/request`: nodes refuse signed commands until their clock is synced."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from fleet.errors import BrokerError
from fleet.protocol.messages import time_response
from fleet.protocol.topics import TIME_RESPONSE_TOPIC

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT = 2.0


class TimeSync:
    """Coalesces request bursts: one response per `window` seconds, always after the last ask.

    The response goes to a shared topic that every node listens to, so one answer
    serves every node that asked within the window.
    """

    def __init__(self, publish: Callable[[str, bytes], Awaitable[None]], window: float = 0.2):
        self.publish = publish
        self.window = window
        self.wanted = asyncio.Event()
        self.responses = 0

    def request(self) -> None:
        """A node asked (called from the hot path; cheap)."""
        self.wanted.set()

    async def run(self) -> None:
        """Loop: publish a time_response whenever one was asked for."""
        while True:
            await self.wanted.wait()
            self.wanted.clear()
            payload = json.dumps(time_response(time.time())).encode()
            try:
                # never let one lost acknowledgement hold back the next answer
                await asyncio.wait_for(self.publish(TIME_RESPONSE_TOPIC, payload), PUBLISH_TIMEOUT)
                self.responses += 1
                log.debug("time response %d published", self.responses)
            except (BrokerError, TimeoutError) as exc:
                log.debug("time response not published: %s", exc)
                self.wanted.set()  # answer once we are back
            await asyncio.sleep(self.window)
