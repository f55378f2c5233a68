"""Simulated hydro 2.0 nodes on a real MQTT broker (`fleet.sim`, a public testing aid).

`NodeSimulator` runs `SimNode`s (fleet.sim.node.firmware) over MQTT, the way the firmware
does: on every connect it subscribes to its command topics and `hydro/time/response`,
publishes its retained `status` ONLINE, its `config_report`, `node_hello` while unbound,
a `time_request` (repeated until synced), then a heartbeat every `heartbeat_interval`.
`reboot`/`restart` is answered DONE; `restart_after` s later the node goes down and comes
back `boot_time` s after that (re-subscribe, re-sync time, republish config_report).
After a lost broker connection it reconnects every `reconnect_delay` s.

Two ways to connect:

* shared (default): up to `nodes_per_connection` nodes multiplexed over one connection.
  Cheap enough for 100,000 nodes. A connection has ONE last will, so a node cannot have
  its own: a shared connection sets no will, and a rebooting node just goes quiet (no
  `lwt`). Losing the connection silences all its nodes at once.
* per node (`per_node_connections=True`): one connection per node, client id =
  hardware_id, last will `offline` (retained, QoS 1) on its `lwt` topic, exactly like the
  firmware; a reboot or `drop_connection()` closes the socket without DISCONNECT, so the
  broker publishes the will.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import random
from collections.abc import Coroutine, Sequence
from typing import Any

from fleet.errors import BrokerError, NotFound, UsageError
from fleet.protocol.topics import TIME_REQUEST_TOPIC
from fleet.sim.node.firmware import SimNode
from fleet.sim.node.group import Group, NodeRun, SimOptions, SimStats
from fleet.sim.node.ota import run_ota

__all__ = ["NodeSimulator", "SimOptions", "SimStats"]


class NodeSimulator:
    """Runs `nodes` against the broker at host:port until `stop()`.

    Use as `async with NodeSimulator(...) as sim:`; entering waits until every
    connection is up and has announced its nodes.
    """

    def __init__(
        self, host: str, port: int, nodes: Sequence[SimNode], options: SimOptions | None = None
    ) -> None:
        self.host, self.port = host, port
        self.options = options or SimOptions()
        if self.options.nodes_per_connection < 1 or self.options.heartbeat_interval <= 0:
            raise UsageError("nodes per connection and heartbeat interval must be positive")
        self.runs = [NodeRun(n) for n in nodes]
        self._by_key = {r.node.key: r for r in self.runs}
        self._by_key.update({r.node.hardware_id: r for r in self.runs})
        self.stats = SimStats()
        self.stopping = False
        self.run_tag = f"{random.getrandbits(24):06x}"
        size = 1 if self.options.per_node_connections else self.options.nodes_per_connection
        _ensure_file_limit(math.ceil(len(self.runs) / size) + 64)
        self.groups = [
            Group(self, i, self.runs[start : start + size])
            for i, start in enumerate(range(0, len(self.runs), size))
        ]
        self._group_of = {id(r): g for g in self.groups for r in g.runs}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, timeout: float = 60.0) -> None:
        """Connect every group and start heartbeats; wait until all are connected.

        Raises BrokerError (naming the broker) when they are not all up within `timeout`.
        """
        spread = self.options.startup_spread
        for g in self.groups:
            delay = spread * g.index / max(1, len(self.groups)) if spread else 0.0
            g.task = self.loop_task(g.serve(delay))
        self.loop_task(self._heartbeats(), name="sim-heartbeats")
        self.loop_task(self._time_retries(), name="sim-time-retry")
        try:
            async with asyncio.timeout(timeout + spread):
                await asyncio.gather(*(g.ready.wait() for g in self.groups))
        except TimeoutError:
            up = sum(g.ready.is_set() for g in self.groups)
            await self.stop()
            raise BrokerError(
                f"{self.host}:{self.port}: only {up} of {len(self.groups)} simulator "
                f"connections came up within {timeout:g} s"
            ) from None

    async def stop(self, graceful: bool = True) -> None:
        """Stop all nodes: DISCONNECT (no will) when graceful, else drop the sockets."""
        self.stopping = True
        conns = [g.conn for g in self.groups if g.conn is not None]
        if graceful:
            await asyncio.gather(
                *(c.disconnect(timeout=2.0) for c in conns), return_exceptions=True
            )
        for conn in conns:
            conn.abort()  # after DISCONNECT this fires no will; without it, it does
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> NodeSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def loop_task(
        self, coro: Coroutine[Any, Any, None], name: str | None = None
    ) -> asyncio.Task[None]:
        """Run `coro` as a task owned (and cancelled on stop) by the simulator."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def on_ota(self, group: Group, run: NodeRun, payload: bytes) -> None:
        """An OTA_UPDATE for `run`'s node: carried out in the background (`fleet.sim.node.ota`)."""
        self.loop_task(run_ota(self, group, run, payload))

    # -- queries and test hooks ---------------------------------------------------------
    @property
    def nodes(self) -> list[SimNode]:
        return [r.node for r in self.runs]

    def _run(self, key: str) -> NodeRun:
        run = self._by_key.get(key)
        if run is None:
            raise NotFound(f"no simulated node {key}")
        return run

    def node(self, key: str) -> SimNode:
        """The simulated node with this uid or hardware_id (NotFound otherwise)."""
        return self._run(key).node

    def is_up(self, key: str) -> bool:
        """True while the node is online (not rebooting, not gone)."""
        run = self._run(key)
        return run.up and not run.gone

    def connected(self) -> int:
        """How many of the simulator's connections are currently up."""
        return sum(1 for g in self.groups if g.conn is not None and g.conn.connected)

    def silence(self, key: str, silent: bool = True) -> None:
        """Stop (or resume) this node's heartbeats without touching its connection."""
        self._run(key).silenced = silent

    def drop_connection(self, key: str, reconnect: bool = True) -> None:
        """Close this node's socket without DISCONNECT (per-node mode): its will fires.

        With `reconnect` False the node stays away for good. UsageError in shared mode.
        """
        if not self.options.per_node_connections:
            raise UsageError("drop_connection needs per-node connections (one will per node)")
        run = self._run(key)
        if not reconnect:
            run.gone = True
        conn = self._group_of[id(run)].conn
        if conn is not None:
            conn.abort()

    # -- behaviour ----------------------------------------------------------------------
    def on_command(self, group: Group, run: NodeRun, channel: str, payload: bytes) -> None:
        """One command arrived for `run` on `channel`."""
        self.stats.commands += 1
        node = run.node
        if node.faults.drop_commands:
            self.stats.dropped_commands += 1
            return
        outcome = node.handle_command(channel, payload)
        if outcome is None:
            return
        body = json.dumps(outcome.response, separators=(",", ":")).encode()
        topic = f"{node.base_topic}/{channel}/command_response"
        status = str(outcome.response["status"])
        code = outcome.response.get("error_code")
        label = f"{status}:{code}" if code else status
        delay = node.faults.slow_response_s
        if delay > 0:
            self.loop_task(self._later(delay, group, run, topic, body, label, outcome.reboot))
            return
        self._respond(group, run, topic, body, label, outcome.reboot, outcome.report_config)

    async def _later(
        self,
        delay: float,
        group: Group,
        run: NodeRun,
        topic: str,
        body: bytes,
        label: str,
        reboot: bool,
    ) -> None:
        await asyncio.sleep(delay)
        if run.up and not run.gone:
            self._respond(group, run, topic, body, label, reboot, False)

    def _respond(
        self,
        group: Group,
        run: NodeRun,
        topic: str,
        body: bytes,
        label: str,
        reboot: bool,
        report: bool,
    ) -> None:
        group.publish(topic, body)
        self.stats.responses[label] += 1
        if report:
            group.publish(run.node.topic("config_report"), run.node.config_report())
        if reboot:
            self.loop_task(self._reboot(group, run))

    async def _reboot(self, group: Group, run: NodeRun) -> None:
        """The firmware's restart: down `restart_after` s after DONE, back after boot."""
        opts = self.options
        await asyncio.sleep(opts.restart_after)
        if not run.up or run.gone:
            return
        self.stats.reboots += 1
        run.up = False
        run.node.reboot()
        if opts.per_node_connections and group.conn is not None:
            group.conn.abort()  # no DISCONNECT: the broker publishes the will
        if run.node.faults.no_return_after_reboot:
            run.gone = True
            return
        await asyncio.sleep(opts.boot_time)
        run.up = True
        if opts.per_node_connections:
            group.wake.set()  # the group's reconnect announces it
        else:
            group.announce(run)

    async def _heartbeats(self) -> None:
        """One scheduler for all nodes: each beats every interval at its own phase."""
        loop = asyncio.get_running_loop()
        interval = self.options.heartbeat_interval
        start = loop.time()
        n = max(1, len(self.runs))
        heap = [(start + interval * (i + 0.5) / n, i) for i in range(len(self.runs))]
        heapq.heapify(heap)
        groups = [self._group_of[id(r)] for r in self.runs]
        while True:
            now = loop.time()
            sent = 0
            while heap and heap[0][0] <= now:
                due, i = heap[0]
                run = self.runs[i]
                groups[i].heartbeat(run)
                if due + interval <= now:  # fell behind (e.g. a pause): keep the phase
                    due += interval * math.ceil((now - due) / interval)
                heapq.heapreplace(heap, (due + interval, i))
                sent += 1
                if sent % 256 == 0:
                    await self._drain_all()
            wait = heap[0][0] - loop.time() if heap else interval
            await asyncio.sleep(max(0.001, min(wait, 0.5)))

    async def _drain_all(self) -> None:
        for g in self.groups:
            if g.conn is not None:
                await g.conn.drain()

    async def _time_retries(self) -> None:
        """Nodes without time ask again every `time_retry` s (the firmware keeps asking)."""
        while True:
            await asyncio.sleep(self.options.time_retry)
            for g in self.groups:
                for run in g.runs:
                    if run.up and not run.gone and not run.node.time_synced:
                        g.publish(TIME_REQUEST_TOPIC, run.node.time_request())
                await asyncio.sleep(0)

    async def run_forever(self) -> None:
        """Start (if needed) and run until cancelled; then stop gracefully."""
        if not self._tasks:
            await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()


def _ensure_file_limit(needed: int) -> None:
    """Raise the open-files soft limit to `needed` (up to the hard limit) or say why not."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if needed <= soft:
        return
    if hard != resource.RLIM_INFINITY and needed > hard:
        raise UsageError(
            f"{needed} connections need {needed} open files; the hard limit is {hard} "
            "(raise it with `ulimit -Hn`, or share connections)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
