"""From a virtual board's boot to a simulated node on MQTT (the rest of the firmware's job).

A real node, once flashed and reset, reads its NodeConfig from NVS, joins Wi-Fi and talks
MQTT as that node. `sim_node(boot)` gives the `fleet.sim` MQTT node (`SimNode`) the
board would run as: node uid, greenhouse, zone, type, channels and secret from the NVS,
firmware version from the app description, hardware_id from the MAC. `broker(boot)` is
the MQTT host and port the NodeConfig points at. Run it with `fleet.sim.node.simulator`:

    boot = device.last_boot
    async with NodeSimulator(*broker(boot), [sim_node(boot)], options) as sim: ...
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from fleet.errors import UsageError
from fleet.sim.esp32.boot import BootInfo
from fleet.sim.node.firmware import SimNode
from fleet.sim.node.group import SimOptions
from fleet.sim.node.simulator import NodeSimulator

log = logging.getLogger(__name__)


def _config(boot: BootInfo) -> dict[str, Any]:
    if not boot.ok:
        raise UsageError(f"board {boot.hardware_id} did not boot: {boot.error}")
    return boot.node_config or {}


def sim_node(boot: BootInfo) -> SimNode:
    """The `fleet.sim.node.firmware.SimNode` a booted board runs as.

    A board with blank NVS runs unbound (temp namespace, node_hello). UsageError when the
    board did not boot.
    """
    config = _config(boot)
    fields: dict[str, Any] = {"hardware_id": boot.hardware_id}
    if config:
        node_type = str(config.get("type", "unknown")).removesuffix("_node")
        channels = tuple(
            str(c["name"])
            for c in config.get("channels", [])
            if isinstance(c, dict) and "name" in c
        )
        fields.update(
            node_uid=config.get("node_id"),
            gh_uid=config.get("gh_uid"),
            zone_uid=config.get("zone_uid"),
            node_type=node_type,
            channels=("system", *[c for c in channels if c != "system"]),
            secret=config.get("node_secret"),
            allow_legacy_hmac=bool(config.get("allow_legacy_hmac", False)),
        )
    if boot.app_version:
        fields["fw_version"] = boot.app_version
    return SimNode(**fields)


def broker(boot: BootInfo) -> tuple[str, int]:
    """(host, port) of the MQTT broker in the board's NodeConfig (port 1883 if unset).

    UsageError when the board did not boot or its NodeConfig names no broker.
    """
    mqtt = _config(boot).get("mqtt") or {}
    host = mqtt.get("host")
    if not host:
        raise UsageError(f"board {boot.hardware_id}: its NodeConfig names no MQTT host")
    return str(host), int(mqtt.get("port") or 1883)


class OnlineBoards:
    """Brings watched boards onto MQTT as their simulated node after every boot.

    `attach(device)` hooks the board's boots: each boot stops the node the board ran
    before and, when the board booted with a NodeConfig, starts `sim_node(boot)` with
    `fleet.sim.node.simulator.NodeSimulator` (one connection per node, will and all) on the broker
    its NodeConfig names, or on `broker_override` (tests: the NodeConfig's host is the
    site's, the test broker is on loopback). Runs an asyncio loop in a background thread;
    `close()` stops every node.
    """

    def __init__(
        self, broker_override: tuple[str, int] | None = None, options: SimOptions | None = None
    ) -> None:
        self.broker_override = broker_override
        self.options = options or SimOptions(per_node_connections=True)
        self.errors: list[str] = []
        self._running: dict[int, NodeSimulator] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="esp32sim-online", daemon=True
        )
        self._thread.start()

    def attach(self, device: Any) -> None:
        """Run `device`'s node after each of its boots."""
        device.on_boot.append(lambda boot: self._on_boot(id(device), boot))

    def _on_boot(self, key: int, boot: BootInfo) -> None:
        asyncio.run_coroutine_threadsafe(self._restart(key, boot), self._loop)

    async def _restart(self, key: int, boot: BootInfo) -> None:
        old = self._running.pop(key, None)
        if old is not None:
            await old.stop(graceful=False)  # a reset: the old node just vanishes
        if not boot.ok or not boot.node_config:
            return
        try:
            host, port = self.broker_override or broker(boot)
            sim = NodeSimulator(host, port, [sim_node(boot)], self.options)
            await sim.start(timeout=10)
        except Exception as exc:  # reported, a board that cannot reach MQTT stays offline
            self.errors.append(f"{boot.hardware_id}: {exc}")
            log.warning("virtual board %s stays offline: %s", boot.hardware_id, exc)
            return
        self._running[key] = sim

    def close(self) -> None:
        """Stop every node and the loop."""

        async def stop_all() -> None:
            for sim in list(self._running.values()):
                await sim.stop()
            self._running.clear()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop_all(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
