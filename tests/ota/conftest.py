"""Fixtures for OTA tests: a real Mosquitto, a data directory with registered nodes whose
secrets are in the vault, and generated firmware bundles imported into the store."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.context import FleetContext
from fleet.firmware.store import FirmwareEntry, FirmwareStore
from fleet.home import init_home
from fleet.registry.repo import NodeSpec
from fleet.settings import Settings
from fleet.sim.broker import Broker, start_broker
from fleet.sim.firmware_gen import write_bundle
from fleet.sim.node.firmware import NodeFaults, SimNode
from fleet.sim.node.group import SimOptions

OLD, NEW = "2.0.0", "2.1.0"
APP_SIZE = 120_000
FAST = SimOptions(heartbeat_interval=1.0, restart_after=0.2, boot_time=0.3, reconnect_delay=0.5)
# a run that ends in seconds: fast pacing, short timeouts, any free port on loopback
RUN = {
    "listen_host": "127.0.0.1",
    "listen_port": 0,
    "rate": 50.0,
    "answer_timeout": 6.0,
    "back_timeout": 6.0,
    "poll_interval": 0.1,
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto on a free loopback port, stopped by PID."""
    b = start_broker(tmp_path / "mosquitto")
    try:
        yield b
    finally:
        b.close()


def sim_node(i: int, faults: NodeFaults | None = None, chip_type: str = "ph") -> SimNode:
    """A bound simulated node `nd-ota-{i}` running OLD, with a fresh secret."""
    return SimNode(
        hardware_id=f"esp32-0000000000{i:02x}",
        node_uid=f"nd-ota-{i}",
        gh_uid="gh-1",
        zone_uid="zn-1",
        node_type=chip_type,
        fw_version=OLD,
        secret=secrets.token_hex(32),
        faults=faults or NodeFaults(),
    )


def make_home(home: Path, nodes: Sequence[SimNode], broker: Broker | None = None) -> FleetContext:
    """A data directory with `nodes` registered (fw_version OLD), secrets in the vault."""
    env = {"FLEET_SERVICE__BROKER": broker.url} if broker else {}
    settings = Settings.load(home, environ=env)
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
                fw_version=OLD,
            )
            for n in nodes
        ]
    )
    for n in nodes:
        assert n.node_uid and n.secret
        ctx.vault.set_node_secret(n.node_uid, n.secret)
    return ctx


@dataclass(frozen=True)
class Firmwares:
    ota: FirmwareEntry  # esp32, otadata + ota_0/ota_1, version NEW
    factory: FirmwareEntry  # esp32, hydro 2.0 factory-only table, version NEW
    c3: FirmwareEntry  # esp32c3, OTA layout


def import_firmwares(ctx: FleetContext, tmp: Path) -> Firmwares:
    """Generate and import the three bundles the tests use."""
    store = FirmwareStore(ctx.registry, ctx.home)

    def one(name: str, chip: str, layout: str) -> FirmwareEntry:
        b = write_bundle(tmp / name, chip, layout=layout, app_size=APP_SIZE, version=NEW)
        return store.import_bundle(b.path)[0]

    return Firmwares(
        ota=one("ota", "esp32", "ota"),
        factory=one("factory", "esp32", "factory"),
        c3=one("c3", "esp32c3", "ota"),
    )


def assign(ctx: FleetContext, entry: FirmwareEntry, node_type: str = "ph") -> None:
    """Assign `entry` to a node type."""
    FirmwareStore(ctx.registry, ctx.home).assign(entry.id, node_type=node_type)
