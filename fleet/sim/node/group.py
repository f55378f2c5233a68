"""The parts of a simulation: options, counters, and one MQTT connection with its nodes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleet.errors import BrokerError
from fleet.protocol.topics import (
    HELLO_TOPIC,
    OTA_PREFIX,
    TIME_REQUEST_TOPIC,
    TIME_RESPONSE_TOPIC,
)
from fleet.sim.node.firmware import SimNode
from fleet.sim.node.wire import MqttConnection, Will

log = logging.getLogger("fleet.sim.node.simulator")


@dataclass(frozen=True)
class SimOptions:
    """Timings and shape of a simulation (seconds unless named otherwise)."""

    heartbeat_interval: float = 15.0
    per_node_connections: bool = False
    nodes_per_connection: int = 1000
    qos: int = 1
    restart_after: float = 1.0  # the firmware's restart timer after answering DONE
    boot_time: float = 0.5
    reconnect_delay: float = 5.0
    time_retry: float = 30.0
    keepalive: int = 30
    startup_spread: float = 0.0  # spread the first connects over this many seconds
    client_prefix: str = "fleet-sim"


@dataclass
class SimStats:
    """Counters of one simulation (for tests, benchmarks and the CLI summary)."""

    heartbeats: int = 0
    published: int = 0
    commands: int = 0
    dropped_commands: int = 0
    reboots: int = 0
    connects: int = 0
    responses: Counter[str] = field(default_factory=Counter)  # "DONE", "ERROR:invalid_signature"


@dataclass
class NodeRun:
    node: SimNode
    up: bool = True  # False while rebooting, or for good after a no-return reboot
    gone: bool = False
    silenced: bool = False
    announced: int = 0  # how many times it came online (connects)
    ota_busy: bool = False  # an OTA download is under way (fleet.sim.node.ota)


class Host(Protocol):
    """What a group needs of the simulator that runs it (`fleet.sim.node.simulator`)."""

    host: str
    port: int
    options: SimOptions
    stats: SimStats
    stopping: bool
    run_tag: str

    def loop_task(
        self, coro: Coroutine[Any, Any, None], name: str | None = None
    ) -> asyncio.Task[None]: ...

    def on_command(self, group: Group, run: NodeRun, channel: str, payload: bytes) -> None: ...

    def on_ota(self, group: Group, run: NodeRun, payload: bytes) -> None: ...


class Group:
    """One MQTT connection and the nodes it carries."""

    def __init__(self, sim: Host, index: int, runs: list[NodeRun]) -> None:
        self.sim = sim
        self.index = index
        self.runs = runs
        self.by_base = {r.node.base_topic: r for r in runs}
        self.conn: MqttConnection | None = None
        self.ready = asyncio.Event()
        self.wake = asyncio.Event()  # a rebooted node is ready to connect again
        self.task: asyncio.Task[None] | None = None

    @property
    def client_id(self) -> str:
        if self.sim.options.per_node_connections:
            return self.runs[0].node.hardware_id
        return f"{self.sim.options.client_prefix}-{self.sim.run_tag}-{self.index}"

    def will(self) -> Will | None:
        if not self.sim.options.per_node_connections:
            return None
        return Will(self.runs[0].node.topic("lwt"), b"offline", qos=1, retain=True)

    def filters(self, run: NodeRun) -> list[str]:
        base = run.node.base_topic
        ota = [f"{OTA_PREFIX}{run.node.node_uid}"] if run.node.bound else []
        return [f"{base}/+/command", f"{base}/config", *ota]

    async def serve(self, delay: float) -> None:
        """Connect, announce, wait for the connection to end, reconnect; until stopped."""
        opts = self.sim.options
        if delay > 0:
            await asyncio.sleep(delay)
        while not self.sim.stopping:
            if all(r.gone for r in self.runs):
                return
            try:
                conn = await MqttConnection.open(
                    self.sim.host,
                    self.sim.port,
                    self.client_id,
                    on_message=self.on_message,
                    will=self.will(),
                    keepalive=opts.keepalive,
                )
            except BrokerError as exc:
                log.debug("%s: %s; retrying in %s s", self.client_id, exc, opts.reconnect_delay)
                await asyncio.sleep(opts.reconnect_delay)
                continue
            self.conn = conn
            self.sim.stats.connects += 1
            try:
                filters = [TIME_RESPONSE_TOPIC]
                for run in self.runs:
                    filters += self.filters(run)
                await conn.subscribe(filters, qos=1)
                for run in self.runs:
                    if run.up and not run.gone:
                        self.announce(run)
                    await conn.drain()
                self.ready.set()
            except BrokerError as exc:
                log.debug("%s: lost during setup: %s", self.client_id, exc)
            await conn.closed
            self.ready.clear()
            self.conn = None
            if self.sim.stopping:
                return
            await self._pause(opts.reconnect_delay)

    async def _pause(self, reconnect_delay: float) -> None:
        """Before reconnecting: until a rebooting node has booted, else `reconnect_delay`."""
        self.wake.clear()
        if any(not r.up and not r.gone for r in self.runs):
            await self.wake.wait()
        elif not all(r.gone for r in self.runs):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), reconnect_delay)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        conn = self.conn
        if conn is not None and conn.connected:
            conn.publish(topic, payload, qos=self.sim.options.qos, retain=retain)
            self.sim.stats.published += 1

    def announce(self, run: NodeRun) -> None:
        """What the firmware publishes right after (re)connecting."""
        node = run.node
        run.announced += 1
        self.publish(node.topic("status"), node.status(), retain=True)
        self.publish(node.topic("config_report"), node.config_report())
        if not node.bound:
            self.publish(HELLO_TOPIC, node.hello())
        self.publish(TIME_REQUEST_TOPIC, node.time_request())
        self.heartbeat(run)

    def heartbeat(self, run: NodeRun) -> None:
        if run.up and not run.gone and not run.silenced:
            self.publish(run.node.topic("heartbeat"), run.node.heartbeat())
            self.sim.stats.heartbeats += 1

    def on_message(self, topic: str, payload: bytes) -> None:
        if topic == TIME_RESPONSE_TOPIC:
            for run in self.runs:
                if run.up and not run.node.time_synced:
                    run.node.on_time_response(payload)
            return
        if topic.startswith(OTA_PREFIX):
            self.on_ota(topic[len(OTA_PREFIX) :], payload)
            return
        base, _, kind = topic.rpartition("/")
        if kind == "config":
            target = self.by_base.get(base)
            if target is not None and target.up:
                self.sim.loop_task(self.rebind(target, payload))
            return
        if kind != "command":
            return
        base, _, channel = base.rpartition("/")
        target = self.by_base.get(base)
        if target is not None and target.up and not target.gone:
            self.sim.on_command(self, target, channel, payload)

    def on_ota(self, node_uid: str, payload: bytes) -> None:
        """An OTA_UPDATE for one of this connection's bound nodes (fleet.sim.node.ota)."""
        for run in self.runs:
            if run.node.bound and run.node.node_uid == node_uid and run.up and not run.gone:
                self.sim.on_ota(self, run, payload)
                return

    async def rebind(self, run: NodeRun, payload: bytes) -> None:
        """A pushed NodeConfig: adopt it; a new namespace means new subscriptions."""
        old = run.node.base_topic
        if not run.node.apply_config(payload):
            return
        self.by_base.pop(old, None)
        self.by_base[run.node.base_topic] = run
        if self.sim.options.per_node_connections and self.conn is not None:
            self.conn.abort()  # the firmware saves the config and restarts
            self.wake.set()
            return
        if self.conn is not None:
            with contextlib.suppress(BrokerError):
                await self.conn.subscribe(self.filters(run), qos=1)
            self.announce(run)
