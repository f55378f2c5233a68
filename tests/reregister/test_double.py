"""The backend double enforces the documented registration contract over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fleet.sim.backend import REGISTER_PATH, BackendDouble

TOKEN = "tok-contract"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """The double's clock."""
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> Iterator[tuple[BackendDouble, httpx.Client]]:
    """A double with the upstream limits per 60 s of the fake clock, and an HTTP client."""
    d = BackendDouble(TOKEN, per_identity=10, per_ip=120, window=60.0, clock=clock)
    d.start()
    with httpx.Client(base_url=d.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield d, c
    d.stop()


def post(c: httpx.Client, body: Any, **kw: Any) -> httpx.Response:
    return c.post(REGISTER_PATH, json=body, **kw)


def test_bad_or_missing_token_is_401(api: tuple[BackendDouble, httpx.Client]) -> None:
    """A wrong or absent bearer token is refused with 401 and registers nothing."""
    d, c = api
    body = {"node_uid": "nd-ph-1", "hardware_id": "esp32-aabbccddeeff"}
    assert 401 == post(c, body, headers={"Authorization": "Bearer wrong"}).status_code
    assert 401 == httpx.post(d.url + REGISTER_PATH, json=body).status_code
    assert {} == d.rows


def test_validation_is_422(api: tuple[BackendDouble, httpx.Client]) -> None:
    """Plain mode without node_uid and hello mode without hardware_id answer 422."""
    _d, c = api
    assert 422 == post(c, {"hardware_id": "esp32-aabbccddeeff"}).status_code
    hello = {"message_type": "node_hello", "node_type": "ph"}
    assert 422 == post(c, hello).status_code


def test_same_hardware_id_keeps_row_uid_and_secret(api: tuple[BackendDouble, httpx.Client]) -> None:
    """Re-registering a hardware_id answers 201 with the same row, uid and node_secret."""
    d, c = api
    first = post(c, {"node_uid": "nd-ph-1", "hardware_id": "esp32-aabbccddeeff", "type": "ph"})
    hello = {
        "message_type": "node_hello",
        "hardware_id": "esp32-aabbccddeeff",
        "node_type": "ph",
        "provisioning_meta": {"node_uid": "nd-ph-9"},
    }
    again = post(c, hello)
    assert (201, 201) == (first.status_code, again.status_code)
    a, b = first.json()["data"], again.json()["data"]
    assert "ok" == first.json()["status"]
    assert (a["id"], a["uid"], a["config"]["node_secret"]) == (
        b["id"],
        b["uid"],
        b["config"]["node_secret"],
    )
    assert 64 == len(a["config"]["node_secret"])
    assert 1 == len(d.rows)


def test_per_identity_limit_over_sliding_window(
    api: tuple[BackendDouble, httpx.Client], clock: FakeClock
) -> None:
    """The 11th request of one identity within 60 s is 429 with Retry-After; later it passes."""
    _d, c = api
    body = {"node_uid": "nd-ph-1", "hardware_id": "esp32-aabbccddeeff"}
    statuses = []
    for _ in range(10):
        statuses.append(post(c, body).status_code)
        clock.now += 1
    assert [201] * 10 == statuses
    throttled = post(c, body)
    assert 429 == throttled.status_code
    assert 50 == int(throttled.headers["Retry-After"])  # first hit at 1000, now 1010
    other = post(c, {"node_uid": "nd-ph-2", "hardware_id": "esp32-aabbccddee00"})
    assert 201 == other.status_code  # the limit is per identity
    clock.now += 50
    assert 201 == post(c, body).status_code


def test_per_ip_limit_over_sliding_window(
    api: tuple[BackendDouble, httpx.Client], clock: FakeClock
) -> None:
    """121 different identities within 60 s from one IP: the 121st is 429 until the window moves."""
    _d, c = api
    for i in range(120):
        r = post(c, {"node_uid": f"nd-ph-{i}", "hardware_id": f"esp32-{i:012x}"})
        assert 201 == r.status_code
        clock.now += 0.25
    late = {"node_uid": "nd-ph-999", "hardware_id": f"esp32-{999:012x}"}
    r = post(c, late)
    assert 429 == r.status_code
    assert 1 <= int(r.headers["Retry-After"]) <= 31
    clock.now += 0.01 + 60 - 120 * 0.25
    assert 201 == post(c, late).status_code


def test_faults_5xx_and_429_then_normal(api: tuple[BackendDouble, httpx.Client]) -> None:
    """Injected faults answer 503 and 429 for the next n requests, then the contract resumes."""
    d, c = api
    body = {"node_uid": "nd-ph-1", "hardware_id": "esp32-aabbccddeeff"}
    d.fail_next(2)
    d.throttle_next(1, retry_after=3)
    got = [post(c, body) for _ in range(4)]
    assert [429, 503, 503, 201] == [r.status_code for r in got]
    assert "3" == got[0].headers["Retry-After"]


def test_preseeded_row_keeps_its_secret(api: tuple[BackendDouble, httpx.Client]) -> None:
    """A row restored upstream answers with its own node_secret; send_secret=False hides it."""
    d, c = api
    secret = d.preseed("nd-ph-1", "esp32-aabbccddeeff", "ab" * 32)
    body = {"node_uid": "nd-ph-1", "hardware_id": "esp32-aabbccddeeff"}
    assert secret == post(c, body).json()["data"]["config"]["node_secret"]
    d.send_secret = False
    assert "node_secret" not in post(c, body).json()["data"]["config"]


def test_requests_without_identity_share_one_bucket_per_ip(
    api: tuple[BackendDouble, httpx.Client],
) -> None:
    """The limiter key is IP + identity: identity-less requests share one bucket of 10."""
    _d, c = api
    anonymous = {"message_type": "node_hello", "node_type": "ph"}
    assert [422] * 10 == [post(c, anonymous).status_code for _ in range(10)]
    assert 429 == post(c, anonymous).status_code
    assert 201 == post(c, {"node_uid": "nd-ph-1", "hardware_id": "esp32-aabbccddeeff"}).status_code
