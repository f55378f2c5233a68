"""Requests the control socket understands (see docs/service.md for the wire format)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from typing import Any, Protocol

from fleet.context import FleetContext
from fleet.errors import UsageError
from fleet.service.campaign_store import Campaign, CampaignStore
from fleet.service.commands import CommandSender, Route
from fleet.service.config import ServiceSettings
from fleet.service.connection import Connection
from fleet.service.dispatch import Dispatcher
from fleet.service.liveness import Liveness
from fleet.service.metrics import Stats


class Service(Protocol):
    """What the control API reads and calls of the running service (`fleet.service.server`)."""

    ctx: FleetContext
    cfg: ServiceSettings
    connection: Connection
    liveness: Liveness
    dispatcher: Dispatcher
    sender: CommandSender
    store: CampaignStore
    stats: Stats
    nodes: dict[str, Route]
    campaigns: dict[int, Campaign]
    metrics_port: int | None
    restores: int

    def note_restore(self, reason: str, now: float) -> None: ...

    async def restore_campaign(self, reason: str, now: float) -> Campaign | None: ...

    async def create_campaign(
        self,
        uids: list[str],
        *,
        reason: str,
        rate: float | None = None,
        not_before: float | None = None,
        selector: dict[str, Any] | None = None,
    ) -> Campaign: ...


def _iso(value: float | None) -> str | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC).isoformat()


def select_nodes(
    nodes: dict[str, Any], uids: list[str] | None, all_: bool, zone: str | None
) -> list[str]:
    """The uids a reboot request names: explicit uids, a zone, or all; UsageError otherwise."""
    chosen = sum(bool(x) for x in (uids, all_, zone))
    if chosen != 1:
        raise UsageError("name exactly one of: node uids, --zone, --all")
    if all_:
        return sorted(nodes)
    if zone:
        out = sorted(u for u, r in nodes.items() if r.zone == zone)
        if not out:
            raise UsageError(f"zone {zone} has no registered nodes")
        return out
    return list(dict.fromkeys(uids or []))


class ControlApi:
    """Dispatches control requests (`op`) to the running service."""

    def __init__(self, service: Service) -> None:
        self.s = service

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        """Answer one request; raises FleetError subclasses for bad requests."""
        op = req.get("op")
        fn = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
        if fn is None:
            raise UsageError(f"unknown control op {op!r}")
        result: dict[str, Any] = await fn(req)
        return result

    async def op_status(self, req: dict[str, Any]) -> dict[str, Any]:
        """Service status: connection, node counts per state, message counters, campaigns."""
        s = self.s
        return {
            "pid": os.getpid(),
            "connected": s.connection.connected.is_set(),
            "broker": s.cfg.broker,
            "metrics_port": s.metrics_port,
            "nodes": {k.value: v for k, v in s.liveness.counts().items()},
            "messages": s.dispatcher.total,
            "malformed": dict(s.dispatcher.malformed),
            "messages_per_second": round(s.stats.rate, 1),
            "restores": s.restores,
            "campaigns": [c.summary() for c in s.campaigns.values()],
        }

    async def op_nodes(self, req: dict[str, Any]) -> dict[str, Any]:
        """Every tracked node with its live state and heartbeat fields."""
        return {
            "nodes": [
                {
                    "uid": n.uid,
                    "state": n.state.value,
                    "since": _iso(n.since),
                    "last_seen": _iso(n.seen_at),
                    "rssi": n.rssi,
                    "free_heap": n.free_heap,
                    "uptime": n.uptime,
                    "fw_version": n.fw_version,
                    "registered": n.uid in self.s.nodes,
                }
                for n in sorted(self.s.liveness, key=lambda n: n.uid)
            ]
        }

    async def op_command(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send one signed command; with `wait`, answer with the node's final response."""
        uid, cmd = req.get("uid"), req.get("cmd")
        params = req.get("params") or {}
        if not isinstance(uid, str) or not isinstance(cmd, str) or not isinstance(params, dict):
            raise UsageError("command needs uid and cmd strings and params as an object")
        channel = str(req.get("channel") or "system")
        timeout = float(req.get("timeout") or self.s.cfg.command_timeout)
        sent = await self.s.sender.send(uid, cmd, params, channel, timeout=timeout)
        await asyncio.to_thread(
            self.s.ctx.registry.audit,
            "command.send",
            node_uid=uid,
            detail={"cmd": cmd, "cmd_id": sent.cmd_id, "channel": channel},
        )
        if not req.get("wait"):
            return {"uid": uid, "cmd": cmd, "cmd_id": sent.cmd_id, "status": "SENT"}
        r = await sent.future
        return {
            "uid": r.uid,
            "cmd": r.cmd,
            "cmd_id": r.cmd_id,
            "channel": r.channel,
            "status": r.status,
            "statuses": r.statuses,
            "error_code": r.error_code,
            "error_message": r.error_message,
            "details": r.details,
            "seconds": None if r.answered_at is None else round(r.answered_at - r.sent_at, 3),
        }

    async def op_reboot(self, req: dict[str, Any]) -> dict[str, Any]:
        """Start a reboot campaign (uids, zone or all), or signal a broker restore."""
        s = self.s
        uids = req.get("uids") or None
        all_, zone = bool(req.get("all")), req.get("zone") or None
        rate = req.get("rate")
        after_restore = bool(req.get("after_restore"))
        if after_restore and not (uids or all_ or zone):
            now = time.time()
            s.note_restore("explicit trigger", now)
            c = await s.restore_campaign("explicit trigger", now)
            if c is None:
                return {"campaign": None, "note": "auto_reboot is off: grace restarted only"}
            return {"campaign": c.summary()}
        chosen = select_nodes(s.nodes, uids, all_, zone)
        now = time.time()
        c = await s.create_campaign(
            chosen,
            reason="after restore (explicit)" if after_restore else "manual reboot",
            rate=float(rate) if rate else None,
            not_before=now + s.cfg.grace if after_restore else None,
            selector={"uids": uids, "all": all_, "zone": zone},
        )
        return {"campaign": c.summary()}

    async def op_campaign(self, req: dict[str, Any]) -> dict[str, Any]:
        """One campaign with its per-node report."""
        cid = req.get("id")
        if not isinstance(cid, int):
            raise UsageError("campaign needs an integer id")
        c = self.s.campaigns.get(cid)
        if c is None:
            c = await asyncio.to_thread(self.s.store.get, cid)
        return {"campaign": c.details()}
