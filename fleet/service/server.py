"""`fleet serve`: one asyncio.TaskGroup of named loops around one broker connection.

Loops: receive (connection + hot path), sweep (liveness clocks), flush (batched registry
writes), command-timeouts, time-sync, campaigns, refresh (newly registered nodes),
control (Unix socket) and metrics (loopback HTTP).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import Counter
from typing import Any

from sqlalchemy import select

from fleet.context import FleetContext
from fleet.errors import NodeNotFound, NotFound
from fleet.registry.models import NodeRow
from fleet.service import metrics
from fleet.service.api import ControlApi
from fleet.service.campaign import CampaignRunner
from fleet.service.campaign_store import ACTIVE, RUNNING, WAITING, Campaign, CampaignStore
from fleet.service.commands import CommandSender, Route
from fleet.service.config import BrokerAddress, ServiceSettings
from fleet.service.connection import Connection
from fleet.service.control import serve_control, serve_metrics
from fleet.service.dispatch import SUBSCRIPTIONS, Dispatcher
from fleet.service.liveness import Liveness, State
from fleet.service.metrics import Stats
from fleet.service.restore import RestoreDetector
from fleet.service.schedule import Scheduler
from fleet.service.timesync import TimeSync
from fleet.service.writer import RegistryWriter

log = logging.getLogger(__name__)

RESTORE_PREFIX = "broker restore"
MAX_LOGGED_CHANGES = 50  # per flush; more are summarised in one line


def load_settings(ctx: FleetContext, overrides: dict[str, Any] | None = None) -> ServiceSettings:
    """The `[service]` section with command-line `overrides` (None values ignored) on top."""
    cfg = ctx.settings.section("service", ServiceSettings)
    extra = {k: v for k, v in (overrides or {}).items() if v is not None}
    return cfg.model_copy(update=extra) if extra else cfg


def broker_password(ctx: FleetContext, cfg: ServiceSettings) -> str | None:
    """The MQTT password from the vault (`site_secret` / `mqtt.password`), if a user is set."""
    if not cfg.username:
        return None
    try:
        return ctx.vault.get("site_secret", "mqtt.password").decode("utf-8")
    except NotFound:
        return None


class Service:
    """The running service; build it with `Service(ctx, cfg)` and `await run()`."""

    def __init__(self, ctx: FleetContext, cfg: ServiceSettings) -> None:
        self.ctx = ctx
        self.cfg = cfg
        now = time.time()
        self.liveness = Liveness(cfg.stale_after, cfg.offline_after, cfg.grace, now)
        self.liveness.pause(now)  # not connected yet: nobody is judged
        self.nodes: dict[str, Route] = {}  # registered nodes: where their commands go
        self.dispatcher = Dispatcher(self.liveness)
        self.detector = RestoreDetector(cfg.restore_outage)
        self.scheduler = Scheduler(ctx.settings)
        self.connection = Connection(
            BrokerAddress.parse(cfg.broker),
            SUBSCRIPTIONS,
            self.dispatcher.handle,
            client_id=cfg.client_id,
            username=cfg.username,
            password=broker_password(ctx, cfg),
            tls_ca_file=cfg.tls_ca_file,
            tls_insecure=cfg.tls_insecure,
            max_queued=cfg.max_queued_messages,
            on_connect=self._connected,
            on_disconnect=self._disconnected,
        )
        self.sender = CommandSender(
            self.connection.publish,
            self._route,
            ctx.vault.node_secret,
            cfg.command_timeout,
            cfg.command_rate_per_node,
            cfg.command_rate_global,
        )
        self.timesync = TimeSync(self._publish_qos0)
        self.dispatcher.on_response = self.sender.on_response
        self.dispatcher.on_uptime = self._uptime
        if cfg.time_sync:
            self.dispatcher.on_time_request = self.timesync.request
        self.writer = RegistryWriter(ctx.registry)
        self.store = CampaignStore(ctx.registry)
        self.campaigns: dict[int, Campaign] = {}
        self.new_campaigns: asyncio.Queue[Campaign] = asyncio.Queue()
        self.stats = Stats()
        self.metrics_port: int | None = None
        self.ready = asyncio.Event()
        self.restores = 0
        self._restore_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()

    async def _publish_qos0(self, topic: str, payload: bytes) -> None:
        # time responses are idempotent broadcasts: nothing to wait for
        await self.connection.publish(topic, payload, qos=0)

    # -- node directory ----------------------------------------------------------------
    def _route(self, uid: str) -> Route:
        route = self.nodes.get(uid)
        if route is None:
            raise NodeNotFound(uid)
        return route

    def _load_nodes(self) -> None:
        # a plain column query: 100,000 ORM objects would cost more memory than the service
        q = select(
            NodeRow.uid, NodeRow.gh_uid, NodeRow.zone_uid, NodeRow.hardware_id, NodeRow.state
        )
        now = time.time()
        nodes: dict[str, Route] = {}
        hw: dict[str, str] = {}
        known = {s.value for s in State}
        with self.ctx.registry.session() as s:
            for uid, gh, zone, hardware_id, state in s.execute(q):
                if uid not in self.nodes:
                    st = State(state) if state in known else State.UNKNOWN
                    self.liveness.track(uid, now, st)
                nodes[uid] = Route(sys.intern(gh), sys.intern(zone))
                if hardware_id:
                    hw[hardware_id] = uid
        self.nodes = nodes
        self.dispatcher.hw_to_uid = hw

    # -- connection events -------------------------------------------------------------
    def _connected(self, now: float) -> None:
        self.liveness.resume(now)
        if self.cfg.time_sync:
            # nodes that asked while we were away only ask again much later
            self.timesync.request()
        reason = self.detector.connected(now)
        if reason:
            self.broker_restored(reason, now)

    def _disconnected(self, now: float) -> None:
        self.liveness.pause(now)
        self.detector.lost(now)
        log.warning("lost the broker; liveness clocks paused")

    def _uptime(self, seconds: int, now: float) -> None:
        reason = self.detector.uptime(seconds, now)
        if reason:
            self.broker_restored(reason, now)

    def broker_restored(self, reason: str, now: float | None = None) -> None:
        """A broker restore was detected (called from the hot path): a fresh grace at once,
        the audit record and the campaign (see `restore_campaign`) in the background."""
        now = time.time() if now is None else now
        self.note_restore(reason, now)
        task = asyncio.get_running_loop().create_task(self.restore_campaign(reason, now))
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def note_restore(self, reason: str, now: float) -> None:
        """Count and log a restore and give every node a fresh grace period."""
        self.restores += 1
        self.liveness.restart_grace(now)
        log.warning("broker restore detected (%s)", reason)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("restore handling failed: %s", task.exception())

    async def restore_campaign(self, reason: str, now: float) -> Campaign | None:
        """Audit the restore and (with auto_reboot) create the reboot campaign over all nodes.

        A second detection while a restore campaign is still waiting only moves its
        start; while one runs, nothing new is started. Returns the campaign, if any.
        """
        async with self._restore_lock:  # two detections of one restart: one campaign
            await asyncio.to_thread(
                self.ctx.registry.audit, "broker.restore", detail={"reason": reason}
            )
            if not self.cfg.auto_reboot:
                return None
            for c in self.campaigns.values():
                if c.state in ACTIVE and c.reason.startswith(RESTORE_PREFIX):
                    if c.state == WAITING:
                        c.not_before = max(c.not_before or now, now + self.cfg.grace)
                    return c
            return await self.create_campaign(
                sorted(self.nodes),
                reason=f"{RESTORE_PREFIX}: {reason}",
                not_before=now + self.cfg.grace,
                selector={
                    "all": True,
                    "restore_at": now,
                    **({"only_unseen_since": now} if self.cfg.reboot_only_unseen else {}),
                },
            )

    async def create_campaign(
        self,
        uids: list[str],
        *,
        reason: str,
        rate: float | None = None,
        not_before: float | None = None,
        selector: dict[str, Any] | None = None,
    ) -> Campaign:
        """Persist a reboot campaign over `uids` and hand it to the campaigns loop.

        Raises NodeNotFound naming the first uid that is not registered.
        """
        unknown = [u for u in uids if u not in self.nodes]
        if unknown:
            raise NodeNotFound(unknown[0])
        c = await asyncio.to_thread(
            self.store.create,
            uids,
            reason=reason,
            rate=rate or self.cfg.reboot_rate,
            jitter=self.cfg.reboot_jitter,
            back_timeout=self.cfg.back_timeout,
            command_timeout=self.cfg.command_timeout,
            not_before=not_before,
            selector=selector,
        )
        self.campaigns[c.id] = c
        self.new_campaigns.put_nowait(c)
        log.info("campaign %s created: %d nodes (%s)", c.id, len(uids), reason)
        return c

    # -- loops -------------------------------------------------------------------------
    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.sweep_interval)
            self.dispatcher.transitions.extend(self.liveness.sweep(time.time()))

    async def _flush_loop(self) -> None:
        last_telemetry = time.monotonic()
        while True:
            await asyncio.sleep(self.cfg.flush_interval)
            telemetry = time.monotonic() - last_telemetry >= self.cfg.telemetry_interval
            if telemetry:
                last_telemetry = time.monotonic()
            await self.flush(telemetry)

    async def flush(self, telemetry: bool = True) -> None:
        """Write pending state changes, audit records and candidates now; with `telemetry`,
        also the heartbeat fields of every node heard from since the last telemetry write."""
        d = self.dispatcher
        transitions = list(d.transitions)
        d.transitions.clear()
        if len(transitions) <= MAX_LOGGED_CHANGES:
            for t in transitions:
                log.info("node %s: %s -> %s (%s)", t.uid, t.old.value, t.new.value, t.reason)
        else:  # e.g. a whole fleet coming back: one line, the audit log has every node
            tally = Counter(f"{t.old.value}->{t.new.value}" for t in transitions)
            log.info("%d nodes changed state: %s", len(transitions), dict(tally))
        dirty = self.liveness.take_dirty(telemetry)
        cands, d.new_candidates = d.new_candidates, []
        if dirty or transitions or cands:
            await asyncio.to_thread(self.writer.write, dirty, transitions, cands, self.nodes)
        now = time.monotonic()
        if now > self.stats.last_at:
            self.stats.rate = (d.total - self.stats.last_total) / (now - self.stats.last_at)
            self.stats.last_total, self.stats.last_at = d.total, now

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(30)
            await asyncio.to_thread(self._load_nodes)

    async def _campaign_loop(self, tg: asyncio.TaskGroup) -> None:
        for c in await asyncio.to_thread(self.store.campaigns, [WAITING, RUNNING]):
            log.info("resuming campaign %s (%s)", c.id, c.state)
            self.campaigns[c.id] = c
            self.new_campaigns.put_nowait(c)
        while True:
            c = await self.new_campaigns.get()
            runner = CampaignRunner(
                c,
                self.store,
                self.sender,
                self.liveness,
                self.connection.connected.wait,
                on_unsynced=self.timesync.request if self.cfg.time_sync else None,
            )
            tg.create_task(runner.run(), name=f"campaign-{c.id}")

    def render_metrics(self) -> str:
        """The Prometheus scrape body."""
        d = self.dispatcher
        gauges = {
            "connected": 1.0 if self.connection.connected.is_set() else 0.0,
            "messages_per_second": round(self.stats.rate, 1),
            "commands_pending": float(len(self.sender.pending)),
            "incoming_dropped": float(self.connection.drops.dropped),
            "broker_restores": float(self.restores),
            "unregistered_candidates": float(len(d.candidates)),
        }
        gauges.update(self.scheduler.gauges())
        active = [(c.id, c.report().counts()) for c in self.campaigns.values() if c.state in ACTIVE]
        return metrics.render(self.liveness.counts(), d.counts, d.malformed, gauges, active)

    async def run(self) -> None:
        """Run every loop until cancelled (Ctrl-C / SIGTERM) or one of them fails."""
        await asyncio.to_thread(self._load_nodes)
        api = ControlApi(self)
        mserver = await serve_metrics(
            self.cfg.metrics_host, self.cfg.metrics_port, self.render_metrics
        )
        try:
            control = await serve_control(self.ctx.home / self.cfg.control_socket, api.handle)
        except BaseException:
            mserver.close()
            raise
        self.metrics_port = mserver.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%s/metrics", self.cfg.metrics_host, self.metrics_port)
        try:
            async with control, mserver, asyncio.TaskGroup() as tg:
                tg.create_task(self.connection.run(), name="receive")
                tg.create_task(self._sweep_loop(), name="sweep")
                tg.create_task(self._flush_loop(), name="flush")
                tg.create_task(self.sender.run_timeouts(), name="command-timeouts")
                tg.create_task(self._refresh_loop(), name="refresh")
                tg.create_task(self._campaign_loop(tg), name="campaigns")
                if self.cfg.time_sync:
                    tg.create_task(self.timesync.run(), name="time-sync")
                tg.create_task(self.scheduler.run(), name="schedule")
                self.ready.set()
        finally:
            (self.ctx.home / self.cfg.control_socket).unlink(missing_ok=True)
            await asyncio.shield(self.flush())
