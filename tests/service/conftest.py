"""Fixtures for the service tests: a real Mosquitto, a data directory with simulated nodes
registered (secrets in the vault), and an in-process `fleet serve`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.registry.repo import NodeSpec
from fleet.service.config import ServiceSettings
from fleet.service.server import Service
from fleet.settings import Settings
from fleet.sim.broker import Broker, start_broker
from fleet.sim.node.firmware import SimNode


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto on a free loopback port ($SYS every second), stopped by PID."""
    b = start_broker(tmp_path / "mosquitto", sys_interval=1)
    try:
        yield b
    finally:
        b.close()


def make_home(
    home: Path, nodes: Sequence[SimNode], environ: dict[str, str] | None = None
) -> FleetContext:
    """A fresh data directory with `nodes` registered and their secrets in the vault."""
    settings = Settings.load(home, environ=environ or {})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    ctx.registry.add_nodes(
        [
            NodeSpec(
                uid=n.node_uid or "",
                gh_uid=n.gh_uid,
                zone_uid=n.zone_uid,
                node_type=n.node_type,
                hardware_id=n.hardware_id,
            )
            for n in nodes
        ]
    )
    for n in nodes:
        assert n.node_uid and n.secret
        ctx.vault.set_node_secret(n.node_uid, n.secret)
    return ctx


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Where the test's data directory goes (short, for the control socket path)."""
    return tmp_path / "h"


def settings_for(broker: Broker, **kw: Any) -> ServiceSettings:
    """Service settings for tests: this broker, any free metrics port, fast loops."""
    base: dict[str, Any] = {
        "broker": broker.url,
        "metrics_port": 0,
        "flush_interval": 0.2,
        "telemetry_interval": 0.2,
        "sweep_interval": 0.2,
        "restore_outage": 2.0,
    }
    base.update(kw)
    return ServiceSettings(**base)


@contextlib.asynccontextmanager
async def running(ctx: FleetContext, cfg: ServiceSettings) -> AsyncIterator[Service]:
    """An in-process service, connected; cancelled (and flushed) on exit."""
    svc = Service(ctx, cfg)
    task = asyncio.create_task(svc.run())
    try:
        await wait_until(lambda: svc.connection.connected.is_set() or task.done(), 15)
        if task.done():
            task.result()
        yield svc
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.1) -> None:
    """Poll `pred` until true; fail the test (naming the wait) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)
