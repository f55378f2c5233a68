"""Signed commands: per-node signing, pending map, response matching, timeouts, rate limits."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fleet.errors import NodeNotFound
from fleet.protocol import build_command, channel_topic
from fleet.protocol.messages import CommandResponse
from fleet.service.ratelimit import RateLimiter

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"DONE", "ERROR", "INVALID", "BUSY", "NO_EFFECT"})
TIMEOUT = "TIMEOUT"

Publish = Callable[[str, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    """Where a node's commands go: its greenhouse and zone."""

    gh: str
    zone: str


@dataclass
class CommandResult:
    """The outcome of one command: the final status (or TIMEOUT) and what the node said."""

    uid: str
    cmd: str
    cmd_id: str
    channel: str
    status: str
    sent_at: float
    answered_at: float | None = None
    statuses: list[str] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    details: Any = None

    @property
    def ok(self) -> bool:
        """True when the node answered DONE."""
        return self.status == "DONE"


@dataclass(frozen=True)
class Sent:
    """A published command: its cmd_id and the future of its final result."""

    cmd_id: str
    future: asyncio.Future[CommandResult]


@dataclass
class _Pending:
    result: CommandResult
    deadline: float
    future: asyncio.Future[CommandResult]


class CommandSender:
    """Signs and publishes commands, then matches `command_response` by cmd_id.

    `routes(uid)` gives the node's topic route (raise NodeNotFound for an unknown node),
    `secret(uid)` its node_secret (kept in memory only for the signing call).
    """

    def __init__(
        self,
        publish: Publish,
        routes: Callable[[str], Route],
        secret: Callable[[str], str],
        timeout: float,
        rate_per_node: float,
        rate_global: float,
    ) -> None:
        self.publish = publish
        self.routes = routes
        self.secret = secret
        self.timeout = timeout
        self.limiter = RateLimiter(rate_per_node, rate_global, time.monotonic())
        self.pending: dict[str, _Pending] = {}
        self.sent = 0
        self.answered = 0
        self.timed_out = 0
        self.unmatched = 0

    async def _slot(self, uid: str) -> None:
        while True:
            now = time.monotonic()
            if self.limiter.take(uid, now):
                return
            await asyncio.sleep(max(0.001, self.limiter.wait_time(uid, now)))

    async def send(
        self,
        uid: str,
        cmd: str,
        params: dict[str, Any] | None = None,
        channel: str = "system",
        timeout: float | None = None,
    ) -> Sent:
        """Sign and publish `cmd` to node `uid`; the future resolves with the final answer.

        Waits for the rate limits first. Raises NodeNotFound for an unregistered node and
        BrokerError when the broker is unreachable. The future never raises: a missing
        answer resolves as status TIMEOUT after `timeout` (default: the sender's).
        """
        route = self.routes(uid)
        await self._slot(uid)
        body = build_command(self.secret(uid), cmd, params)
        topic = channel_topic(route.gh, route.zone, uid, channel, "command")
        now = time.time()
        result = CommandResult(uid, cmd, body["cmd_id"], channel, "SENT", now)
        fut: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self.pending[body["cmd_id"]] = _Pending(
            result, time.monotonic() + (timeout or self.timeout), fut
        )
        try:
            await self.publish(topic, json.dumps(body, separators=(",", ":")).encode())
        except BaseException:
            self.pending.pop(body["cmd_id"], None)
            raise
        self.sent += 1
        return Sent(body["cmd_id"], fut)

    def on_response(self, uid: str, channel: str, resp: CommandResponse, now: float) -> None:
        """Match a command_response; ACK is recorded, a final status resolves the future."""
        p = self.pending.get(resp.cmd_id)
        if p is None or p.result.uid != uid:
            self.unmatched += 1
            return
        r = p.result
        r.statuses.append(resp.status)
        if resp.status not in FINAL_STATUSES:
            return
        del self.pending[resp.cmd_id]
        r.status = resp.status
        r.answered_at = now
        r.error_code = resp.error_code
        r.error_message = resp.error_message
        r.details = resp.details
        self.answered += 1
        if not p.future.done():
            p.future.set_result(r)

    def expire(self, now_monotonic: float | None = None) -> int:
        """Resolve every pending command past its deadline as TIMEOUT; returns how many."""
        now = time.monotonic() if now_monotonic is None else now_monotonic
        gone = [cid for cid, p in self.pending.items() if p.deadline <= now]
        for cid in gone:
            p = self.pending.pop(cid)
            p.result.status = TIMEOUT
            self.timed_out += 1
            if not p.future.done():
                p.future.set_result(p.result)
        return len(gone)

    async def run_timeouts(self, interval: float = 0.5) -> None:
        """Loop: expire overdue commands every `interval` seconds."""
        while True:
            await asyncio.sleep(interval)
            self.expire()


def unknown_route(uid: str) -> Route:
    """A `routes` callable for a sender that knows no nodes."""
    raise NodeNotFound(uid)
