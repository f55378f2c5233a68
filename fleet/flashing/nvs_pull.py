"""Read a live node's NVS back over USB, parse it, and escrow it (backup of its config).

The partition table is read from the chip (so the nvs partition is found wherever the
node's build put it), then the nvs partition; the NodeConfig inside must parse before
anything is stored. The image goes to the vault as kind `nvs_image` (the same kind the
NVS escrow builds), so that a later flash can write it back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from fleet.context import FleetContext
from fleet.errors import Conflict, FleetError, NotFound
from fleet.firmware.partition_table import TABLE_MAX_SIZE, TABLE_OFFSET, parse_partition_table
from fleet.flashing.device import ProgressFn, no_progress, open_device
from fleet.flashing.flasher import flashing_settings

IMAGE_KIND = "nvs_image"  # same as fleet.nvs.escrow.IMAGE_KIND


@dataclass(frozen=True)
class PullResult:
    """What was read from the device and where it was escrowed."""

    node_uid: str
    port: str
    mac: str
    nvs_offset: int
    nvs_size: int
    sha256: str
    record_id: int
    config_node_id: str | None
    config_version: int | None
    config: dict[str, Any]  # secrets masked


def pull_nvs(
    ctx: FleetContext,
    port: str,
    node_uid: str | None = None,
    *,
    progress: ProgressFn | None = None,
    baud: int | None = None,
) -> PullResult:
    """Read, parse and escrow the NVS partition of the board on `port`.

    The node is `node_uid`, else the one registered with the board's hardware_id
    (NotFound otherwise). Conflict when the board's MAC is not the given node's. NvsCorrupt
    when the partition does not hold a readable NodeConfig (nothing is escrowed then).
    """
    from fleet.nvs.nodeconfig import mask_secrets, read_nodeconfig

    report = progress or no_progress
    cfg = flashing_settings(ctx)
    with open_device(port, baud or cfg.baud, cfg.connect_attempts, report) as dev:
        info = dev.info
        if node_uid is not None:
            node = ctx.registry.get_node(node_uid)
            if node.hardware_id not in (None, info.hardware_id):
                raise Conflict(
                    f"device {port} has MAC {info.mac} ({info.hardware_id}); node {node.uid} "
                    f"is {node.hardware_id}",
                    node_uid=node.uid,
                    port=port,
                )
        else:
            found = ctx.registry.find_by_hardware_id(info.hardware_id)
            if found is None:
                raise NotFound(
                    f"device {port}: no node is registered with hardware_id {info.hardware_id} "
                    "(give --node UID)",
                    port=port,
                )
            node = found
        table = parse_partition_table(
            dev.read(TABLE_OFFSET, TABLE_MAX_SIZE), f"partition table on {port}"
        )
        nvs = table.nvs
        if nvs is None:
            raise NotFound(f"device {port}: its partition table has no nvs partition", port=port)
        image = dev.read(nvs.offset, nvs.size, report)
    try:
        config = read_nodeconfig(image)
    except FleetError as exc:
        ctx.registry.audit(
            "nvs.pull",
            node_uid=node.uid,
            outcome="error",
            detail={"port": port, "error": exc.message},
        )
        raise
    digest = hashlib.sha256(image).hexdigest()
    version = config.get("version")
    record = ctx.vault.put(
        IMAGE_KIND,
        node.uid,
        image,
        {
            "sha256": digest,
            "size": len(image),
            "node_type": node.node_type,
            "encrypted": False,
            "config_version": version,
            "source": "device",
            "port": port,
            "mac": info.mac,
        },
    )
    node_id = config.get("node_id")
    ctx.registry.audit(
        "nvs.pull",
        node_uid=node.uid,
        detail={"port": port, "record": record, "sha256": digest, "config_node_id": node_id},
    )
    return PullResult(
        node_uid=node.uid,
        port=port,
        mac=info.mac,
        nvs_offset=nvs.offset,
        nvs_size=nvs.size,
        sha256=digest,
        record_id=record,
        config_node_id=node_id if isinstance(node_id, str) else None,
        config_version=version if isinstance(version, int) else None,
        config=mask_secrets(config),
    )
