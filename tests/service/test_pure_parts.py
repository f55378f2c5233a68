"""Pacing plan, campaign report, rate limits, restore detection, backoff (pure)."""

import random
from collections import Counter

import pytest

from fleet.service.backoff import Backoff
from fleet.service.config import BrokerAddress
from fleet.service.pacing import floor_seconds, plan
from fleet.service.ratelimit import RateLimiter
from fleet.service.report import Outcome, TargetView, build_report, on_response, on_timeout
from fleet.service.restore import RestoreDetector, parse_uptime


def test_plan_respects_rate_per_wave_and_covers_everyone() -> None:
    """Every node gets exactly one slot and no one-second wave holds more than `rate`."""
    uids = [f"nd-{i}" for i in range(1000)]
    slots = plan(uids, rate=25, jitter=1.0, seed=7)
    assert sorted(uids) == sorted(s.uid for s in slots)
    per_second = Counter(int(s.offset) for s in slots)
    assert 25 == max(per_second.values())
    assert 40 == len(per_second)
    assert floor_seconds(1000, 25) >= slots[-1].offset


def test_plan_is_deterministic_for_resume() -> None:
    """The same inputs give the same plan (a resumed campaign keeps its schedule)."""
    uids = [f"nd-{i}" for i in range(50)]
    assert plan(uids, 5, 0.5, seed=3) == plan(uids, 5, 0.5, seed=3)


def test_plan_with_slow_rate_spreads_nodes() -> None:
    """At 0.5 node/s consecutive nodes are two seconds apart."""
    slots = plan(["a", "b", "c"], rate=0.5, jitter=0.0)
    assert [0.0, 2.0, 4.0] == [s.offset for s in slots]


def test_plan_rejects_bad_rate() -> None:
    """A zero rate is refused."""
    with pytest.raises(ValueError):
        plan(["a"], rate=0)


def test_report_buckets() -> None:
    """The report sorts targets into back / silent / no answer / refused with error_code."""
    rep = build_report(
        [
            TargetView("nd-b", Outcome.BACK),
            TargetView("nd-a", Outcome.BACK),
            TargetView("nd-s", Outcome.SILENT),
            TargetView("nd-n", Outcome.NO_ANSWER),
            TargetView("nd-r", Outcome.REFUSED, error_code="invalid_signature"),
        ]
    )
    assert ["nd-a", "nd-b"] == rep.back
    assert ["nd-s"] == rep.silent
    assert ["nd-n"] == rep.no_answer
    assert {"nd-r": "invalid_signature"} == rep.refused
    assert rep.finished


def test_outcome_transitions() -> None:
    """ACK keeps waiting, DONE is done, ERROR refuses; a timeout retries once then gives up."""
    assert Outcome.SENT == on_response(Outcome.SENT, "ACK")
    assert Outcome.DONE == on_response(Outcome.SENT, "DONE")
    assert Outcome.REFUSED == on_response(Outcome.SENT, "ERROR")
    assert Outcome.PENDING == on_timeout(Outcome.SENT, attempts=1, max_attempts=2)
    assert Outcome.NO_ANSWER == on_timeout(Outcome.SENT, attempts=2, max_attempts=2)


def test_rate_limiter_per_node_and_global() -> None:
    """A node may not exceed its own rate, and all nodes together not the global one."""
    rl = RateLimiter(per_key=1, global_rate=3, now=0.0)
    assert rl.take("a", 0.0)
    assert not rl.take("a", 0.0)
    assert rl.take("b", 0.0) and rl.take("c", 0.0)
    assert not rl.take("d", 0.0)
    assert rl.take("a", 1.0)


def test_restore_detector_reasons() -> None:
    """A long outage and a broker uptime going back are restores; a short blip is not."""
    det = RestoreDetector(outage_threshold=30)
    det.lost(100.0)
    assert det.connected(110.0) is None
    det.lost(200.0)
    assert det.connected(260.0) is not None
    assert det.uptime(5000, 300.0) is None
    assert det.uptime(5010, 310.0) is None
    assert det.uptime(3, 320.0) is not None
    assert 42 == parse_uptime(b"42 seconds")
    assert parse_uptime(b"\xff\xfe") is None


def test_backoff_grows_and_stays_capped() -> None:
    """Delays grow exponentially with jitter, never above the cap, and reset after success."""
    b = Backoff(base=1, cap=8, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(10)]
    assert all(0.5 <= d <= 8 for d in delays)
    assert max(delays[5:]) > 1
    b.reset()
    assert 1 >= b.next_delay()


def test_broker_url_parsing() -> None:
    """mqtt:// and mqtts:// URLs give host, port (default 1883/8883) and TLS."""
    assert ("h", 1883, False) == tuple(BrokerAddress.parse("mqtt://h").model_dump().values())
    assert ("h", 8883, True) == tuple(BrokerAddress.parse("mqtts://h").model_dump().values())
