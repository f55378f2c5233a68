"""Liveness of nodes: a pure state machine (no I/O, no clock of its own).

Each node is ONLINE, STALE, OFFLINE, SAFE_MODE, or UNKNOWN (registered but not heard
since the service started). Callers feed observations with the time they happened and
call `sweep(now)` periodically; both return the `Transition`s they caused.

The service never judges nodes while it is itself cut off from the broker: `pause(now)`
stops every silence clock, `resume(now)` shifts them by the outage and opens a grace
period during which silence alone never makes a node OFFLINE. A live last will (`lwt`)
or a status OFFLINE still does, immediately: that is the broker telling us.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_CONNECT_REASONS = frozenset({"status", "config_report", "lwt online", "node_hello"})


class State(enum.StrEnum):
    """Liveness state of one node, as stored in the registry."""

    UNKNOWN = "UNKNOWN"
    ONLINE = "ONLINE"
    STALE = "STALE"
    OFFLINE = "OFFLINE"
    SAFE_MODE = "SAFE_MODE"


@dataclass(frozen=True, slots=True)
class Transition:
    """Node `uid` went from `old` to `new` at `at` (seconds since the epoch) because `reason`."""

    uid: str
    old: State
    new: State
    at: float
    reason: str


class NodeLive:
    """What the service knows of one node right now (mutable, owned by `Liveness`)."""

    __slots__ = (
        "boot_at",
        "clock",
        "free_heap",
        "fw_version",
        "rssi",
        "seen_at",
        "since",
        "state",
        "uid",
        "uptime",
    )

    def __init__(self, uid: str, state: State, now: float) -> None:
        self.uid = uid
        self.state = state
        self.since = now
        self.clock = now  # last sign of life, shifted forward by our own outages
        self.seen_at: float | None = None  # wall time of the last message, never shifted
        self.boot_at: float | None = None  # last sign of a (re)connect or reboot
        self.uptime: int | None = None
        self.free_heap: int | None = None
        self.rssi: int | None = None
        self.fw_version: str | None = None


class Liveness:
    """All nodes' liveness; `stale_after`/`offline_after` of silence, `grace` after a resume."""

    def __init__(
        self, stale_after: float, offline_after: float, grace: float, now: float = 0.0
    ) -> None:
        if not 0 < stale_after <= offline_after:
            raise ValueError("need 0 < stale_after <= offline_after")
        self.stale_after = stale_after
        self.offline_after = offline_after
        self.grace = grace
        self.nodes: dict[str, NodeLive] = {}
        self.paused_at: float | None = None
        self.resumed_at = now
        self.grace_until = now + grace
        self.dirty: set[str] = set()  # state changed since the last take
        self.touched: set[str] = set()  # heard from since the last take (telemetry)

    # -- seeding -----------------------------------------------------------------------
    def track(self, uid: str, now: float, state: State = State.UNKNOWN) -> NodeLive:
        """Start tracking `uid` (idempotent); a node already tracked keeps its state."""
        node = self.nodes.get(uid)
        if node is None:
            node = NodeLive(uid, state, now)
            self.nodes[uid] = node
        return node

    def forget(self, uid: str) -> None:
        """Stop tracking `uid` (no transition)."""
        self.nodes.pop(uid, None)
        self.dirty.discard(uid)
        self.touched.discard(uid)

    # -- observations ------------------------------------------------------------------
    def _alive(self, uid: str, now: float, reason: str, safe: bool = False) -> Transition | None:
        node = self.nodes.get(uid)
        if node is None:
            node = self.track(uid, now)
        node.clock = now if self.paused_at is None else node.clock
        node.seen_at = now
        if reason in _CONNECT_REASONS:
            node.boot_at = now
        self.touched.add(uid)
        new = State.SAFE_MODE if safe else State.ONLINE
        if node.state == new or (node.state == State.SAFE_MODE and reason == "heartbeat"):
            return None
        return self._move(node, new, now, reason)

    def heartbeat(
        self,
        uid: str,
        now: float,
        uptime: int | None = None,
        free_heap: int | None = None,
        rssi: int | None = None,
        fw_version: str | None = None,
    ) -> Transition | None:
        """A heartbeat: ONLINE (a node in SAFE_MODE stays there); keeps the heartbeat fields."""
        tr = self._alive(uid, now, "heartbeat")
        node = self.nodes[uid]
        if uptime is not None and node.uptime is not None and uptime < node.uptime:
            node.boot_at = now
        node.uptime = uptime
        node.free_heap = free_heap
        node.rssi = rssi
        if fw_version is not None:
            node.fw_version = fw_version
        return tr

    def status(self, uid: str, now: float, status: str) -> Transition | None:
        """A status message: ONLINE, OFFLINE or SAFE_MODE; anything else changes nothing."""
        if status == "ONLINE":
            return self._alive(uid, now, "status")
        if status == "SAFE_MODE":
            return self._alive(uid, now, "status", safe=True)
        if status == "OFFLINE":
            return self._gone(uid, now, "status OFFLINE")
        return None

    def lwt(self, uid: str, now: float, payload: str) -> Transition | None:
        """The node's last will (`offline`) published by the broker: OFFLINE at once."""
        if payload.strip().lower() == "offline":
            return self._gone(uid, now, "lwt")
        if payload.strip().lower() == "online":
            return self._alive(uid, now, "lwt online")
        return None

    def seen(self, uid: str, now: float, reason: str) -> Transition | None:
        """Any other sign of life (config_report, command_response): ONLINE."""
        return self._alive(uid, now, reason)

    def _gone(self, uid: str, now: float, reason: str) -> Transition | None:
        node = self.nodes.get(uid) or self.track(uid, now)
        if node.state == State.OFFLINE:
            return None
        return self._move(node, State.OFFLINE, now, reason)

    def _move(self, node: NodeLive, new: State, now: float, reason: str) -> Transition:
        tr = Transition(node.uid, node.state, new, now, reason)
        node.state = new
        node.since = now
        self.dirty.add(node.uid)
        return tr

    # -- clocks ------------------------------------------------------------------------
    def sweep(self, now: float) -> list[Transition]:
        """Judge silence at `now`: STALE after stale_after, OFFLINE after offline_after.

        Nothing is judged while paused; nothing goes OFFLINE by silence before the
        grace period ends.
        """
        if self.paused_at is not None:
            return []
        stale_before = now - self.stale_after
        offline_before = now - self.offline_after
        may_offline = now >= self.grace_until
        out: list[Transition] = []
        for node in self.nodes.values():
            st = node.state
            if st == State.OFFLINE:
                continue
            clock = node.clock
            if clock > stale_before:
                continue
            if may_offline and clock <= offline_before:
                out.append(self._move(node, State.OFFLINE, now, "silence"))
            elif st in (State.ONLINE, State.SAFE_MODE):
                out.append(self._move(node, State.STALE, now, "silence"))
        return out

    def pause(self, now: float) -> None:
        """The service lost the broker at `now`: stop every silence clock."""
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now: float) -> None:
        """The service is connected again: shift clocks by the outage and open the grace."""
        if self.paused_at is not None:
            outage = max(0.0, now - self.paused_at)
            for node in self.nodes.values():
                node.clock += outage
            self.paused_at = None
        self.resumed_at = now
        self.grace_until = max(self.grace_until, now + self.grace)

    def restart_grace(self, now: float) -> None:
        """Open a fresh grace period (after a broker restore was detected)."""
        self.grace_until = max(self.grace_until, now + self.grace)

    # -- views -------------------------------------------------------------------------
    def counts(self) -> dict[State, int]:
        """Number of nodes per state (every state present, zero included)."""
        out = dict.fromkeys(State, 0)
        for node in self.nodes.values():
            out[node.state] += 1
        return out

    def take_dirty(self, telemetry: bool = True) -> list[NodeLive]:
        """The nodes whose state changed since the last call, plus (with `telemetry`) those
        merely heard from since the last telemetry take; both sets are then forgotten."""
        dirty, self.dirty = self.dirty, set()
        if telemetry:
            dirty |= self.touched
            self.touched = set()
        return [self.nodes[u] for u in dirty if u in self.nodes]

    def get(self, uid: str) -> NodeLive | None:
        """The live record of `uid`, or None when it is not tracked."""
        return self.nodes.get(uid)

    def __iter__(self) -> Iterator[NodeLive]:
        return iter(self.nodes.values())

    def track_many(self, items: Iterable[tuple[str, State]], now: float) -> None:
        """Track several nodes at once (see `track`)."""
        for uid, state in items:
            self.track(uid, now, state)
