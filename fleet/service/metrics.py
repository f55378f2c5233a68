"""Prometheus text exposition of the service's counters (format 0.0.4)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleet.service.liveness import State

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(
    states: Mapping[State, int],
    messages: Mapping[str, int],
    malformed: Mapping[str, int],
    gauges: Mapping[str, float],
    campaigns: Iterable[tuple[int, Mapping[str, int]]],
) -> str:
    """The whole scrape body: nodes per state, message counters, gauges, campaign progress."""
    out: list[str] = [
        "# HELP fleet_nodes Nodes per liveness state.",
        "# TYPE fleet_nodes gauge",
    ]
    out += [f'fleet_nodes{{state="{s.value}"}} {n}' for s, n in states.items()]
    out += [
        "# HELP fleet_messages_total MQTT messages handled, by kind.",
        "# TYPE fleet_messages_total counter",
    ]
    out += [f'fleet_messages_total{{kind="{_label(k)}"}} {n}' for k, n in sorted(messages.items())]
    out += [
        "# HELP fleet_malformed_total Malformed MQTT messages dropped, by kind.",
        "# TYPE fleet_malformed_total counter",
    ]
    out += [
        f'fleet_malformed_total{{kind="{_label(k)}"}} {n}' for k, n in sorted(malformed.items())
    ]
    for name, value in sorted(gauges.items()):
        out += [f"# TYPE fleet_{name} gauge", f"fleet_{name} {value:g}"]
    out += [
        "# HELP fleet_campaign_nodes Nodes of active reboot campaigns, by outcome.",
        "# TYPE fleet_campaign_nodes gauge",
    ]
    for cid, counts in campaigns:
        out += [
            f'fleet_campaign_nodes{{campaign="{cid}",outcome="{k}"}} {n}'
            for k, n in sorted(counts.items())
        ]
    return "\n".join(out) + "\n"


@dataclass
class Stats:
    """Rates the metrics endpoint shows next to the counters."""

    started: float = field(default_factory=time.time)
    last_total: int = 0
    last_at: float = field(default_factory=time.monotonic)
    rate: float = 0.0
