"""The hot path: one MQTT message in, liveness/commands/time-sync updated (no I/O here).

Per message the work is a topic split, one `json.loads` and a few attribute writes;
everything slow (registry writes, audit, logging of state changes) is batched by the
loops that drain `transitions` and the liveness dirty set.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from fleet.protocol import messages as msg
from fleet.protocol.topics import HELLO_TOPIC, TEMP_GH, TEMP_ZONE, TIME_REQUEST_TOPIC
from fleet.service.liveness import Liveness, Transition
from fleet.service.restore import parse_uptime

log = logging.getLogger(__name__)

SYS_UPTIME_TOPIC = "$SYS/broker/uptime"
SUBSCRIPTIONS = (
    "hydro/+/+/+/heartbeat",
    "hydro/+/+/+/status",
    "hydro/+/+/+/lwt",
    "hydro/+/+/+/config_report",
    "hydro/+/+/+/node_hello",
    HELLO_TOPIC,
    "hydro/+/+/+/+/command_response",
    TIME_REQUEST_TOPIC,
    SYS_UPTIME_TOPIC,
)
MAX_LOGGED_MALFORMED = 20  # per service run; the counter keeps counting


@dataclass
class Candidate:
    """A hardware_id heard in a hello that the registry does not know."""

    hardware_id: str
    node_type: str | None
    fw_version: str | None
    capabilities: tuple[str, ...]
    first_seen: float
    last_seen: float
    count: int = 1


@dataclass
class Dispatcher:
    """Routes messages; `now` is passed in so that tests and benchmarks control time."""

    liveness: Liveness
    hw_to_uid: dict[str, str] = field(default_factory=dict)
    on_response: Callable[[str, str, msg.CommandResponse, float], None] | None = None
    on_time_request: Callable[[], None] | None = None
    on_uptime: Callable[[int, float], None] | None = None
    transitions: deque[Transition] = field(default_factory=deque)
    candidates: dict[str, Candidate] = field(default_factory=dict)
    new_candidates: list[Candidate] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    total: int = 0

    def handle(self, topic: str, payload: bytes, retain: bool, now: float) -> None:
        """Process one message; never raises for bad input (it is counted as malformed)."""
        self.total += 1
        try:
            self._handle(topic, payload, retain, now)
        except msg.MessageError as exc:
            self._bad(exc.kind, topic, exc.detail)
        except (ValueError, TypeError, UnicodeDecodeError, RecursionError, OverflowError) as exc:
            # RecursionError: deeply nested arrays ("[[[[..."); OverflowError: Infinity as
            # an integer field (json.loads accepts it)
            self._bad("unknown", topic, exc.__class__.__name__)
        except Exception:  # a bug of ours must not stop the service: count it, say where
            self.malformed["internal"] += 1
            log.exception("error handling a message on %.120r", topic)

    def _bad(self, kind: str, topic: str, detail: str) -> None:
        self.malformed[kind] += 1
        n = sum(self.malformed.values())
        if n <= MAX_LOGGED_MALFORMED:
            log.warning("malformed %s message on %.120r: %s", kind, topic, detail)
            if n == MAX_LOGGED_MALFORMED:
                log.warning("further malformed messages are only counted")

    def _handle(self, topic: str, payload: bytes, retain: bool, now: float) -> None:
        parts = topic.split("/")
        n = len(parts)
        if n == 5 and parts[0] == "hydro":
            kind = parts[4]
            node = self._node_key(parts[1], parts[2], parts[3])
            if not node:
                self._bad(kind, topic, "empty topic level")
                return
            self.counts[kind] += 1
            if kind == "heartbeat":
                hb = msg.Heartbeat.parse(payload)
                tr = self.liveness.heartbeat(
                    node, now, hb.uptime, hb.free_heap, hb.rssi, hb.fw_version
                )
            elif retain and kind in ("status", "lwt"):
                # retained values may be old (a restored broker can even go back in
                # time), so they never decide liveness
                self.counts["retained_ignored"] += 1
                return
            elif kind == "status":
                tr = self.liveness.status(node, now, msg.Status.parse(payload).status)
            elif kind == "lwt":
                text = payload.decode("utf-8")
                if len(text) > 64:
                    raise msg.MessageError("lwt", "longer than 64 characters")
                if text.strip().lower() not in ("offline", "online"):
                    raise msg.MessageError("lwt", "neither 'offline' nor 'online'")
                tr = self.liveness.lwt(node, now, text)
            elif kind == "config_report":
                report = msg.ConfigReport.parse(payload)
                tr = self.liveness.seen(node, now, "config_report")
                if report.fw_version is not None:
                    self.liveness.nodes[node].fw_version = report.fw_version
            elif kind == "node_hello":
                self._hello(msg.NodeHello.parse(payload), now)
                return
            else:
                self._bad(kind, topic, "unexpected topic")
                return
            if tr is not None:
                self.transitions.append(tr)
        elif n == 6 and parts[0] == "hydro" and parts[5] == "command_response":
            node = self._node_key(parts[1], parts[2], parts[3])
            resp = msg.CommandResponse.parse(payload)
            self.counts["command_response"] += 1
            if not node or not parts[4]:
                self._bad("command_response", topic, "empty topic level")
                return
            tr = self.liveness.seen(node, now, "command_response")
            if tr is not None:
                self.transitions.append(tr)
            if self.on_response is not None:
                self.on_response(node, parts[4], resp, now)
        elif topic == HELLO_TOPIC:
            self.counts["node_hello"] += 1
            self._hello(msg.NodeHello.parse(payload), now)
        elif topic == TIME_REQUEST_TOPIC:
            msg.TimeRequest.parse(payload)
            self.counts["time_request"] += 1
            if self.on_time_request is not None:
                self.on_time_request()
        elif topic == SYS_UPTIME_TOPIC:
            up = parse_uptime(payload)
            if up is None:
                raise msg.MessageError("sys_uptime", "not '<seconds> seconds'")
            self.counts["sys_uptime"] += 1
            if self.on_uptime is not None:
                self.on_uptime(up, now)
        else:
            self._bad("topic", topic, "unexpected topic shape")

    def _node_key(self, gh: str, zone: str, node: str) -> str:
        """The liveness key: the node uid; an unbound node's hardware_id maps to its uid."""
        if not gh or not zone or not node:
            return ""
        if gh == TEMP_GH and zone == TEMP_ZONE:
            return self.hw_to_uid.get(node, node)
        return node

    def _hello(self, hello: msg.NodeHello, now: float) -> None:
        hw = hello.hardware_id
        uid = self.hw_to_uid.get(hw)
        if uid is not None:
            tr = self.liveness.seen(uid, now, "node_hello")
            if tr is not None:
                self.transitions.append(tr)
            return
        cand = self.candidates.get(hw)
        if cand is None:
            cand = Candidate(hw, hello.node_type, hello.fw_version, hello.capabilities, now, now)
            self.candidates[hw] = cand
            self.new_candidates.append(cand)
        else:
            cand.last_seen = now
            cand.count += 1
