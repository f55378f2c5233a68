"""From a virtual board's boot to a simulated node on MQTT (the rest of the firmware's job).

A real node, once flashed and reset, reads its NodeConfig from NVS, joins Wi-Fi and talks
MQTT as that node. `sim_node(boot)` gives the `fleet.sim` MQTT node (`SimNode`) the
board would run as: node uid, greenhouse, zone, type, channels and secret from the NVS,
firmware version from the app description, hardware_id from the MAC. `broker(boot)` is
the MQTT host and port the NodeConfig points at. Run it with `fleet.sim.nodes`:

    boot = device.last_boot
    async with NodeSimulator(*broker(boot), [sim_node(boot)], options) as sim: ...
"""

from __future__ import annotations

from typing import Any

from fleet.errors import UsageError
from fleet.sim.esp32.boot import BootInfo


def _config(boot: BootInfo) -> dict[str, Any]:
    if not boot.ok:
        raise UsageError(f"board {boot.hardware_id} did not boot: {boot.error}")
    return boot.node_config or {}


def sim_node(boot: BootInfo) -> Any:
    """The `fleet.sim.node_firmware.SimNode` a booted board runs as.

    A board with blank NVS runs unbound (temp namespace, node_hello). UsageError when the
    board did not boot.
    """
    from fleet.sim.node_firmware import SimNode

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
