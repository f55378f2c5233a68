"""Running an OTA plan: serve the images, publish the commands, follow each node to its end.

One aiomqtt connection subscribes to `hydro/system/ota/+/status` and to each target's
`status`, `heartbeat` and `lwt`; commands go out paced (`rate` nodes/s, jittered, the
same plan as reboot campaigns) with QoS 1 on `hydro/system/ota/{uid}`. Each node's
`NodeOta` decides its outcome; a node is DONE only once it is back from a new boot with
the new version. Retained messages are ignored for that judgement (they are the past).
Each finished node gets an audit record at once, and DONE updates the registry's
`fw_version`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiomqtt
import pydantic

from fleet.context import FleetContext
from fleet.errors import BrokerError, NotFound, UsageError
from fleet.ota.plan import OtaPlan, OtaTarget, plan_ota, select_nodes
from fleet.ota.policy import SECTION, NodeOta, OtaSettings, Outcome
from fleet.ota.report import NodeResult, OtaReport, audit_plan, plan_results
from fleet.ota.server import OtaServer
from fleet.protocol import ota_topic, sign_command
from fleet.service.config import BrokerAddress, ServiceSettings
from fleet.service.pacing import plan as pacing_plan
from fleet.service.server import broker_password, load_settings

log = logging.getLogger(__name__)

STATUS_FILTER = "hydro/system/ota/+/status"
SUBSCRIBE_CHUNK = 100
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # compared, never bound


def public_base(cfg: OtaSettings, port: int, broker_host: str) -> str:
    """The base URL nodes fetch from: `public_url`, else this host's address toward the
    broker (the nodes' network) when listening on every interface."""
    if cfg.public_url:
        return cfg.public_url
    host = cfg.listen_host
    if host in WILDCARD_HOSTS:
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((broker_host, 9))  # no packet is sent: this only picks the route
            host = str(s.getsockname()[0])
        if host in WILDCARD_HOSTS:
            host = "127.0.0.1"
    return f"http://{host}:{port}"


class OtaRun:
    """One run over `plan`'s targets; `run()` returns the report.

    `on_change(tracker)` is called when a node is sent to or finishes (progress bars).
    `server` may be given (tests); otherwise one is started from `cfg`.
    """

    def __init__(
        self,
        ctx: FleetContext,
        plan: OtaPlan,
        cfg: OtaSettings,
        service: ServiceSettings,
        *,
        password: str | None = None,
        server: OtaServer | None = None,
        on_change: Callable[[NodeOta], None] | None = None,
        seed: int = 0,
    ) -> None:
        self.ctx, self.plan, self.cfg, self.service = ctx, plan, cfg, service
        self.address = BrokerAddress.parse(service.broker)
        self._password = password
        self.server = server
        self.on_change = on_change
        self.seed = seed
        self.targets = {t.node.uid: t for t in plan.targets}
        self.trackers = {
            t.node.uid: NodeOta(
                node_uid=t.node.uid,
                firmware_id=t.firmware.id,
                target_version=t.firmware.version,
                old_version=t.node.fw_version,
                request_id=t.request_id,
            )
            for t in plan.targets
        }
        self._routes: dict[str, tuple[str, str]] = {}  # topic -> (uid, kind)
        for t in plan.targets:
            n = t.node
            self._routes[f"{ota_topic(n.uid)}/status"] = (n.uid, "ota")
            for kind in ("status", "heartbeat", "lwt"):
                self._routes[f"hydro/{n.gh_uid}/{n.zone_uid}/{n.uid}/{kind}"] = (n.uid, kind)
        self._recorded: set[str] = set()

    # -- broker ------------------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        tls = None
        if self.address.tls:
            tls = ssl.create_default_context(cafile=self.service.tls_ca_file)
            if self.service.tls_insecure:
                tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        return aiomqtt.Client(
            self.address.host,
            self.address.port,
            identifier=f"fleet-ota-{socket.gethostname()[:20]}-{os.getpid()}",
            username=self.service.username,
            password=self._password,
            clean_session=True,
            keepalive=15,
            timeout=10,
            tls_context=tls,
        )

    def _topics(self) -> list[str]:
        topics = [STATUS_FILTER]
        topics += [t for t, (_, kind) in self._routes.items() if kind != "ota"]
        return topics

    # -- the run -----------------------------------------------------------------------
    async def run(self) -> OtaReport:
        """Serve, send, follow; BrokerError naming the broker when it cannot be reached."""
        own_server = self.server is None
        server = self.server or OtaServer(self.cfg.listen_host, self.cfg.listen_port)
        for t in self.plan.targets:
            server.add_file(t.firmware.id, t.app_path)
        if own_server:
            server.start()
            server.public_url = public_base(self.cfg, server.port, self.address.host)
        self.server = server
        try:
            await self._run_mqtt(server)
        finally:
            if own_server:
                server.stop()
        return self.report()

    async def _run_mqtt(self, server: OtaServer) -> None:
        where = f"{self.address.host}:{self.address.port}"
        try:
            async with self._client() as client:
                topics = self._topics()
                for i in range(0, len(topics), SUBSCRIBE_CHUNK):
                    await client.subscribe([(t, 1) for t in topics[i : i + SUBSCRIBE_CHUNK]])
                await self._drive(client, server)
        except aiomqtt.MqttError as exc:
            if all(t.sent_at is None for t in self.trackers.values()):
                raise BrokerError(f"cannot reach {where}: {exc}") from exc
            self._abandon(f"lost the broker {where}: {exc}")
        except BaseException:
            self._abandon("the run was interrupted")
            raise

    async def _drive(self, client: aiomqtt.Client, server: OtaServer) -> None:
        """Read, send and follow until every node is finished; a failing reader or sender
        (the broker went away) ends the run with its exception."""
        reader = asyncio.create_task(self._read(client), name="ota-read")
        sender = asyncio.create_task(self._send_all(client, server), name="ota-send")
        follower = asyncio.create_task(self._follow(), name="ota-follow")
        tasks = {reader, sender, follower}
        try:
            while not follower.done():
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    tasks.discard(task)
                    failure = None if task is follower else task.exception()
                    if failure is not None:
                        raise failure
        finally:
            for task in (reader, sender, follower):
                task.cancel()
            await asyncio.gather(reader, sender, follower, return_exceptions=True)

    async def _send_all(self, client: aiomqtt.Client, server: OtaServer) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        slots = pacing_plan(list(self.trackers), self.cfg.rate, self.cfg.jitter, self.seed)
        for slot in slots:
            delay = start + slot.offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._send(client, server, self.targets[slot.uid])

    async def _send(self, client: aiomqtt.Client, server: OtaServer, t: OtaTarget) -> None:
        uid = t.node.uid
        url, _ = server.url_for(t.firmware.id, uid, self.cfg.ttl)
        command: dict[str, Any] = {
            "cmd": "OTA_UPDATE",
            "firmware_uid": t.firmware.id,
            "file_url": url,
            "checksum_sha256": t.checksum_sha256,
            "ttl_ms": int(self.cfg.ttl * 1000),
            "request_id": t.request_id,
            "ts": int(time.time()),
        }
        try:
            command["sig"] = sign_command(self.ctx.vault.node_secret(uid), command)
        except NotFound:
            self._finish(uid, Outcome.NOT_SENT, f"node {uid}: node_secret vanished from the vault")
            return
        tracker = self.trackers[uid]
        # marked sent first: a quick node may answer before the publish call returns
        tracker.sent(time.monotonic(), self.cfg.answer_timeout)
        try:
            await client.publish(ota_topic(uid), json.dumps(command).encode(), qos=1)
        except aiomqtt.MqttError as exc:
            tracker.sent_at = None
            self._finish(uid, Outcome.NOT_SENT, f"node {uid}: publish failed: {exc}")
            raise
        log.info("OTA %s -> node %s (firmware %s)", t.request_id, uid, t.firmware.id)
        self._changed(tracker)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for m in client.messages:
            if m.retain:
                continue  # the past: a retained status says nothing about this boot
            payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
            self.on_message(m.topic.value, payload, time.monotonic())

    def on_message(self, topic: str, payload: bytes, now: float) -> None:
        """Route one live (not retained) message to its node's tracker."""
        route = self._routes.get(topic)
        if route is None:
            return
        uid, kind = route
        tracker = self.trackers[uid]
        if tracker.finished:
            return
        if kind == "lwt":
            tracker.on_offline()
            return
        try:
            body = json.loads(payload)
        except ValueError:
            log.warning("node %s: %s payload is not JSON; ignored", uid, kind)
            return
        if not isinstance(body, dict):
            return
        if kind == "ota":
            tracker.on_ota_status(body, now, self.cfg.back_timeout)
        elif kind == "status":
            state = body.get("status")
            if state == "ONLINE":
                fw = body.get("fw")
                tracker.on_back(fw if isinstance(fw, str) else None, now)
            elif state == "OFFLINE":
                tracker.on_offline()
        elif kind == "heartbeat":
            uptime, fw = body.get("uptime"), body.get("fw_version")
            if isinstance(uptime, int | float) and tracker.booted_since_sent(float(uptime), now):
                tracker.on_back(fw if isinstance(fw, str) else None, now)
        if tracker.finished:
            self._record(tracker)

    async def _follow(self) -> None:
        while not all(t.finished for t in self.trackers.values()):
            await asyncio.sleep(self.cfg.poll_interval)
            now = time.monotonic()
            for tracker in self.trackers.values():
                tracker.tick(now)
                if tracker.finished:
                    self._record(tracker)

    # -- results -----------------------------------------------------------------------
    def _finish(self, uid: str, outcome: Outcome, detail: str) -> None:
        tracker = self.trackers[uid]
        tracker.finish(outcome, detail)
        self._record(tracker)

    def _abandon(self, why: str) -> None:
        for uid, tracker in self.trackers.items():
            if not tracker.finished:
                outcome = Outcome.NOT_SENT if tracker.sent_at is None else Outcome.NO_ANSWER
                self._finish(uid, outcome, f"node {uid}: {why}")

    def _changed(self, tracker: NodeOta) -> None:
        if self.on_change is not None:
            self.on_change(tracker)

    def _record(self, tracker: NodeOta) -> None:
        """Audit a finished node once; DONE also updates its registry fw_version."""
        if tracker.node_uid in self._recorded or tracker.outcome is None:
            return
        self._recorded.add(tracker.node_uid)
        uid, outcome = tracker.node_uid, tracker.outcome
        if outcome == Outcome.DONE:
            self.ctx.registry.update_node(uid, fw_version=tracker.target_version)
        self.ctx.registry.audit(
            "ota.update",
            node_uid=uid,
            outcome="ok" if outcome.ok else "failed",
            detail={
                "outcome": outcome.value,
                "firmware_id": tracker.firmware_id,
                "old_version": tracker.old_version,
                "target_version": tracker.target_version,
                "request_id": tracker.request_id,
                "detail": tracker.detail,
            },
        )
        self._changed(tracker)

    def report(self) -> OtaReport:
        """Every node of the plan with its outcome (unfinished ones as not sent)."""
        downloads = self.server.downloads if self.server is not None else {}
        results = [
            NodeResult(
                node_uid=uid,
                outcome=(t.outcome or Outcome.NOT_SENT).value,
                firmware_id=t.firmware_id,
                old_version=t.old_version,
                target_version=t.target_version,
                new_version=t.back_version,
                detail=t.detail,
                downloads=downloads.get(uid, 0),
            )
            for uid, t in self.trackers.items()
        ]
        return OtaReport(plan_results(self.plan) + results)


async def update_nodes(
    ctx: FleetContext,
    uids: Sequence[str] = (),
    zone: str | None = None,
    node_type: str | None = None,
    *,
    firmware_id: str | None = None,
    force: bool = False,
    skip_refused: bool = False,
    overrides: dict[str, Any] | None = None,
    server: OtaServer | None = None,
    on_plan: Callable[[OtaPlan], None] | None = None,
    on_change: Callable[[NodeOta], None] | None = None,
) -> OtaReport:
    """`fleet ota`: select, plan, and (unless a node is refused) run an OTA update.

    Settings come from `[ota]` with `overrides` (None values ignored) on top, the broker
    from `[service]`. When any node is refused and not `skip_refused`, nothing is sent:
    the report lists the refusals and every other node as not sent. Refused and
    up-to-date nodes get their audit records before anything is sent.
    """
    cfg = ctx.settings.section(SECTION, OtaSettings)
    extra = {k: v for k, v in (overrides or {}).items() if v is not None}
    if extra:
        try:
            cfg = OtaSettings.model_validate({**cfg.model_dump(), **extra})
        except pydantic.ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise UsageError(f"ota options: {problems}") from None
    plan = plan_ota(ctx, select_nodes(ctx, uids, zone, node_type), firmware_id, force)
    audit_plan(ctx, plan)
    if plan.refused and not skip_refused:
        why = f"not sent: {len(plan.refused)} node(s) refused (--skip-refused updates the rest)"
        held = [
            NodeResult(
                t.node.uid,
                Outcome.NOT_SENT.value,
                t.firmware.id,
                t.node.fw_version,
                t.firmware.version,
                None,
                why,
            )
            for t in plan.targets
        ]
        return OtaReport(plan_results(plan) + held)
    if on_plan is not None:
        on_plan(plan)
    if not plan.targets:
        return OtaReport(plan_results(plan))
    service = load_settings(ctx)
    run = OtaRun(
        ctx,
        plan,
        cfg,
        service,
        password=broker_password(ctx, service),
        server=server,
        on_change=on_change,
    )
    return await run.run()
