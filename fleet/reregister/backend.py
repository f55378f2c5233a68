"""The hydro 2.0 backend's registration API, as a client plus wrappers (restic-style).

`Registrar` is the one contract: `register(identity, body)` sends one registration and
returns the backend's `Answer`; it raises only `BackendUnreachable` (no HTTP answer at all:
connection refused, timeout). `HttpRegistrar` speaks HTTP (httpx); `PacedRegistrar` keeps
under the backend's per-IP and per-identity limits with token buckets; `RetryingRegistrar`
retries 5xx, 429 and unreachable answers with backoff and stops at once on 401. A wrapper
never looks inside the body; the token is held by the HTTP layer only and never printed.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx

from fleet.errors import FleetError
from fleet.reregister.pacing import SlidingLog, TokenBucket, default_slack, safe_rate

REGISTER_PATH = "/api/nodes/register"


class BackendUnauthorized(FleetError):
    """backend {url} refused the token (HTTP 401): {detail}"""

    exit_code: ClassVar[int] = 77  # EX_NOPERM


class BackendUnreachable(FleetError):
    """backend {url} did not answer: {detail}"""

    exit_code: ClassVar[int] = 69  # EX_UNAVAILABLE


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, the `data` object of a 2xx, Retry-After (s), a short reason."""

    status: int
    data: dict[str, Any] | None = None
    retry_after: float | None = None
    reason: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300


@dataclass
class Counters:
    """What a campaign's requests met, shared by the wrappers."""

    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    unreachable: int = 0
    retries: int = 0


class Registrar(Protocol):
    """Sends one registration; returns the answer, raises only BackendUnreachable."""

    async def register(self, identity: str, body: dict[str, Any]) -> Answer: ...


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _reason(response: httpx.Response) -> str:
    """A short, secret-free reason from an error answer (Laravel's `message`/`errors`)."""
    try:
        doc = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(doc, dict):
        errors = doc.get("errors")
        if isinstance(errors, dict) and errors:
            return "; ".join(
                f"{k}: {v[0] if isinstance(v, list) and v else v}" for k, v in errors.items()
            )[:200]
        if doc.get("message"):
            return str(doc["message"])[:200]
    return response.reason_phrase or f"HTTP {response.status_code}"


class HttpRegistrar:
    """`POST {url}/api/nodes/register` with a bearer token over one pooled httpx client."""

    def __init__(self, url: str, token: str, timeout: float, counters: Counters) -> None:
        self.url = url.rstrip("/")
        self.counters = counters
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        )

    async def register(self, identity: str, body: dict[str, Any]) -> Answer:
        """One POST; the answer whatever its status; BackendUnreachable without one."""
        self.counters.requests += 1
        try:
            response = await self._client.post(REGISTER_PATH, json=body)
        except httpx.TimeoutException:
            raise BackendUnreachable("timed out", url=self.url) from None
        except httpx.TransportError as exc:
            raise BackendUnreachable(type(exc).__name__, url=self.url) from None
        if response.is_success:
            try:
                doc = response.json()
            except ValueError:
                return Answer(response.status_code, None, reason="answer is not JSON")
            data = doc.get("data") if isinstance(doc, dict) else None
            return Answer(response.status_code, data if isinstance(data, dict) else {})
        retry = parse_retry_after(response.headers.get("Retry-After"))
        return Answer(response.status_code, None, retry, _reason(response))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


Sleep = Callable[[float], Awaitable[None]]


class PacedRegistrar:
    """Waits for a slot of the per-IP bucket and of the identity's own bucket before sending.

    The buckets pace; a log of real send times (`SlidingLog`) then guarantees the per-IP
    limit even when a busy event loop wakes senders late and they would send in a burst.

    A 429 with Retry-After holds the per-IP bucket for that long (the server's view of our
    rate disagrees with ours, and every request would meet the same wall) and closes a gate
    that every request passes last, just before it leaves: requests that had already booked
    a slot and were waiting for it wait out the Retry-After too. The identity buckets model
    the backend's (source IP, identity) limiter: we are one source IP.
    """

    def __init__(
        self,
        inner: Registrar,
        per_ip: int,
        per_identity: int,
        window: float,
        slack: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.sleep = sleep
        self.ip = TokenBucket(safe_rate(per_ip, window, slack), clock)
        slack = default_slack(window) if slack is None else slack
        self.sent = SlidingLog(per_ip - 1, window + slack, clock)
        self._identity_rate = safe_rate(per_identity, window, slack)
        self._identities: dict[str, TokenBucket] = {}
        self._hold_until = 0.0  # clock time before which nothing leaves (Retry-After)

    def _bucket(self, identity: str) -> TokenBucket:
        if identity not in self._identities:
            self._identities[identity] = TokenBucket(self._identity_rate, self.clock)
        return self._identities[identity]

    async def register(self, identity: str, body: dict[str, Any]) -> Answer:
        """Send once a slot is free in both buckets."""
        mine = self._bucket(identity)
        wait = mine.reserve()
        if wait:
            await self.sleep(wait)
        wait = self.ip.reserve()
        if wait:
            await self.sleep(wait)
        while wait := max(self.sent.wait(), self._hold_until - self.clock()):
            await self.sleep(wait)
        self.sent.record()
        answer = await self.inner.register(identity, body)
        if answer.status == 429 and answer.retry_after:
            self.ip.hold(answer.retry_after)
            self._hold_until = max(self._hold_until, self.clock() + answer.retry_after)
        return answer

    def eta(self, remaining: int) -> float:
        """Seconds the per-IP limit needs for `remaining` more requests."""
        return self.ip.seconds_for(remaining)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: attempts in all, exponential backoff with jitter."""

    max_attempts: int = 6
    base: float = 1.0
    cap: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds before retry number `attempt` (1-based): half fixed, half random."""
        ceiling = min(self.cap, self.base * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class RetryingRegistrar:
    """Retries 5xx, 429 (honouring Retry-After) and no answer; 401 raises at once.

    Returns the last answer (with `attempts`) when retries run out or the answer is final
    (2xx, other 4xx). Raises BackendUnreachable when the last attempt got no answer.
    """

    def __init__(
        self,
        inner: Registrar,
        policy: RetryPolicy,
        counters: Counters,
        url: str,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.counters = counters
        self.url = url
        self.sleep = sleep
        self.rng = rng or random.Random()

    async def register(self, identity: str, body: dict[str, Any]) -> Answer:
        """Send until final or out of attempts."""
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self.inner.register(identity, body)
            except BackendUnreachable:
                self.counters.unreachable += 1
                if attempt >= self.policy.max_attempts:
                    raise
                await self._pause(attempt, None)
                continue
            if answer.status == 401:
                raise BackendUnauthorized(answer.reason or "Unauthenticated", url=self.url)
            transient = answer.status == 429 or answer.status >= 500
            if answer.status == 429:
                self.counters.throttled += 1
            elif answer.status >= 500:
                self.counters.server_errors += 1
            if not transient or attempt >= self.policy.max_attempts:
                return Answer(
                    answer.status, answer.data, answer.retry_after, answer.reason, attempt
                )
            await self._pause(attempt, answer.retry_after if answer.status == 429 else None)

    async def _pause(self, attempt: int, retry_after: float | None) -> None:
        self.counters.retries += 1
        if retry_after is not None:
            # a little jitter on top, so that nodes told the same second do not collide
            await self.sleep(retry_after + self.rng.uniform(0, 0.1 * retry_after + 0.05))
        else:
            await self.sleep(self.policy.backoff(attempt, self.rng))
