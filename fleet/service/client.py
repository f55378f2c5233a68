"""Talking to `fleet serve` from other commands, or doing the job alone when none runs.

When the control socket answers, requests go to the running service (it already holds
the broker connection, the liveness picture and the time sync). Otherwise a short-lived
`Service` is started in-process for the one job and stopped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fleet.context import FleetContext
from fleet.errors import BrokerError, MissingPrerequisite
from fleet.service import control
from fleet.service.campaign_store import ACTIVE, Campaign, CampaignStore
from fleet.service.config import ServiceSettings
from fleet.service.server import Service, load_settings

CONNECT_TIMEOUT = 15.0


def socket_path(ctx: FleetContext, cfg: ServiceSettings | None = None) -> Path:
    """Where the running service's control socket is."""
    cfg = cfg or load_settings(ctx)
    return ctx.home / cfg.control_socket


def service_running(ctx: FleetContext) -> bool:
    """True when a `fleet serve` answers on this data directory's control socket."""
    try:
        control.call(socket_path(ctx), {"op": "status"}, timeout=5)
        return True
    except MissingPrerequisite:
        return False


@contextlib.asynccontextmanager
async def standalone(
    ctx: FleetContext, connect_timeout: float = CONNECT_TIMEOUT, **overrides: Any
) -> AsyncIterator[Service]:
    """A temporary in-process service (no metrics port, no automatic restore campaigns).

    Raises BrokerError naming the broker (and its last answer) when it cannot connect
    within `connect_timeout` seconds.
    """
    cfg = load_settings(ctx, {"metrics_port": 0, "auto_reboot": False, **overrides})
    svc = Service(ctx, cfg)
    task = asyncio.create_task(svc.run(), name="fleet-serve-standalone")
    try:
        ready = asyncio.create_task(svc.ready.wait())
        await asyncio.wait({ready, task}, timeout=connect_timeout, return_when="FIRST_COMPLETED")
        if task.done():
            task.result()  # re-raise why it stopped
        try:
            await asyncio.wait_for(svc.connection.connected.wait(), connect_timeout)
        except TimeoutError:
            raise BrokerError(
                f"cannot reach {cfg.broker} within {connect_timeout:.0f}s "
                f"({svc.connection.last_error or 'no answer'})"
            ) from None
        yield svc
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def send_command(ctx: FleetContext, request: dict[str, Any]) -> dict[str, Any]:
    """Send a command (control `command` request), via the service or alone."""
    req = {"op": "command", **request}
    if service_running(ctx):
        timeout = float(request.get("timeout") or 30) + 10
        return control.call(socket_path(ctx), req, timeout=timeout)

    async def alone() -> dict[str, Any]:
        async with standalone(ctx) as svc:
            from fleet.service.api import ControlApi

            # give a node that just saw us connect a moment to ask for the time
            await asyncio.sleep(0.5)
            return await ControlApi(svc).handle({**req, "wait": True})

    return asyncio.run(alone())


def start_reboot(
    ctx: FleetContext,
    request: dict[str, Any],
    on_progress: Callable[[Campaign], None] | None = None,
    wait: bool = True,
) -> Campaign:
    """Start a reboot campaign (control `reboot` request); with `wait`, follow it to the end.

    Through a running service the campaign also survives this command; without one,
    a temporary service runs it here and `wait` is implied.
    """
    req = {"op": "reboot", **request}
    store = CampaignStore(ctx.registry)
    if service_running(ctx):
        answer = control.call(socket_path(ctx), req)
        if answer.get("campaign") is None:
            raise MissingPrerequisite(str(answer.get("note", "no campaign was started")))
        cid = int(answer["campaign"]["id"])
        c = store.get(cid)
        while wait and c.state in ACTIVE:
            if on_progress:
                on_progress(c)
            time.sleep(0.5)
            c = store.get(cid)
        return c

    async def alone() -> Campaign:
        async with standalone(ctx, auto_reboot=bool(req.get("after_restore"))) as svc:
            from fleet.service.api import ControlApi

            answer = await ControlApi(svc).handle(req)
            c = svc.campaigns[int(answer["campaign"]["id"])]
            while c.state in ACTIVE:
                if on_progress:
                    on_progress(c)
                await asyncio.sleep(0.5)
            return c

    return asyncio.run(alone())
