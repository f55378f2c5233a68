"""Flash one node over USB: its firmware and its own NVS image, verified, then reset.

`flash_node` is the library entry point the CLI and the station's worker processes call.
It connects with esptool in-process, checks that the board is the node's (by MAC; a
replacement board is accepted only when the caller says so, and is recorded and audited),
writes bootloader, partition table, otadata, app and NVS (compressed; esptool verifies
each write by MD5), and resets. Regions the chip already holds are skipped (MD5 per
region, then per 64 KiB block and 4 KiB sector), so reflashing a node whose app is
unchanged costs about its NVS partition. Nothing is recorded as done unless every write
verified; a failure leaves an audit record with the reason.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from fleet.context import FleetContext
from fleet.errors import Conflict, FleetError, ValidationError
from fleet.firmware.partition_table import TABLE_MAX_SIZE, TABLE_OFFSET, parse_partition_table
from fleet.firmware.store import FirmwareStore
from fleet.firmware.validate import FirmwareBundle
from fleet.flashing.device import Device, DeviceInfo, ProgressFn, no_progress, open_device
from fleet.flashing.regions import Region, RegionPlan, plan_region
from fleet.flashing.settings import FlashingSettings
from fleet.registry.node import Node


@dataclass(frozen=True)
class RegionResult:
    """What happened to one region."""

    label: str
    offset: int
    size: int
    written: int  # bytes written (0: already on the chip)


@dataclass(frozen=True)
class FlashResult:
    """The outcome of a successful `flash_node`."""

    node_uid: str
    port: str
    chip: str
    mac: str
    hardware_id: str
    firmware_id: str | None
    fw_version: str | None
    replacement: bool
    regions: list[RegionResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bytes_written(self) -> int:
        return sum(r.written for r in self.regions)

    @property
    def bytes_skipped(self) -> int:
        return sum(r.size - r.written for r in self.regions)


def flashing_settings(ctx: FleetContext) -> FlashingSettings:
    """The `[flashing]` section of `ctx.settings`."""
    settings: FlashingSettings = ctx.settings.section("flashing", FlashingSettings)
    return settings


def _nvs_image(ctx: FleetContext, uid: str, given: bytes | None) -> bytes:
    if given is not None:
        return given
    from fleet.nvs.escrow import escrowed, image_for_node

    image_for_node(ctx, uid)  # builds and escrows the image when there is none yet
    image, meta, _keys = escrowed(ctx, uid)
    if meta.get("encrypted"):
        raise ValidationError(
            f"node {uid}: the escrowed NVS image is encrypted, and the flasher writes plain "
            "NVS only (the hydro 2.0 firmware has no NVS encryption: set [nvs] encrypt = "
            "false and rebuild)",
            node_uid=uid,
        )
    return image


def check_board(ctx: FleetContext, node: Node, info: DeviceInfo, replacement: bool) -> bool:
    """Refuse a board that is not `node`'s; returns True when the board is new to the node.

    Conflict (naming port, MAC and node) when the MAC belongs to another node, or differs
    from the node's without `replacement`. ValidationError when the chip differs.
    """
    if info.chip != node.chip:
        raise ValidationError(
            f"device {info.port} is an {info.chip}, node {node.uid} is an {node.chip}",
            node_uid=node.uid,
            port=info.port,
        )
    owner = ctx.registry.find_by_hardware_id(info.hardware_id)
    if owner is not None and owner.uid != node.uid:
        raise Conflict(
            f"device {info.port} (MAC {info.mac}) is node {owner.uid}'s board, not {node.uid}'s",
            node_uid=node.uid,
            port=info.port,
        )
    if node.hardware_id is None:
        return True
    if node.hardware_id != info.hardware_id:
        if not replacement:
            raise Conflict(
                f"device {info.port} has MAC {info.mac} ({info.hardware_id}); node {node.uid} "
                f"is {node.hardware_id}. If this board replaces it, flash with --replacement",
                node_uid=node.uid,
                port=info.port,
            )
        return True
    return False


class _WriteProgress:
    """Maps esptool's per-chunk compressed-byte bars onto one bar of uncompressed bytes."""

    def __init__(self, sizes: list[int], progress: ProgressFn) -> None:
        self.sizes = sizes
        self.total = sum(sizes)
        self.progress = progress
        self.index = 0
        self.finished = False
        self.last_total = -1

    def __call__(self, cur: int, total: int) -> None:
        if self.finished or (total != self.last_total and self.last_total != -1):
            self.index = min(self.index + 1, len(self.sizes) - 1)
        self.last_total = total
        self.finished = total > 0 and cur >= total
        done_before = sum(self.sizes[: self.index])
        frac = cur / total if total else 1.0
        self.progress("write", done_before + int(frac * self.sizes[self.index]), self.total)


def write_regions(dev: Device, regions: list[Region], progress: ProgressFn) -> list[RegionResult]:
    """Write the parts of `regions` the chip does not hold yet; returns what was written."""
    plans: list[RegionPlan] = []
    for i, region in enumerate(regions):
        progress("compare", i, len(regions))
        plans.append(plan_region(region, dev.md5))
    progress("compare", len(regions), len(regions))
    chunks = [c for p in plans for c in p.chunks]
    if chunks:
        dev.write(chunks, _WriteProgress([len(d) for _, d in chunks], progress))
    progress("write", 1, 1)
    return [
        RegionResult(p.region.label, p.region.offset, len(p.region.data), p.write_bytes)
        for p in plans
    ]


def _bundle_regions(bundle: FirmwareBundle) -> list[Region]:
    return [Region.padded(f.role, f.offset, f.data) for f in bundle.files]


def _nvs_region(table_owner: str, table: Any, image: bytes) -> Region:
    nvs = table.nvs
    if nvs is None:
        raise ValidationError(f"{table_owner}: the partition table has no nvs partition")
    if len(image) != nvs.size:
        raise ValidationError(
            f"NVS image is {len(image)} bytes, the nvs partition of {table_owner} at "
            f"0x{nvs.offset:x} is {nvs.size} bytes: assign that firmware to the node "
            "(`fleet firmware assign ID --node UID`) and rebuild its NVS (`fleet nvs build`)"
        )
    return Region("nvs", nvs.offset, image)


def flash_node(
    ctx: FleetContext,
    uid: str,
    port: str,
    firmware_id: str | None = None,
    *,
    nvs_only: bool = False,
    replacement: bool = False,
    nvs_image: bytes | None = None,
    progress: ProgressFn | None = None,
    baud: int | None = None,
    device: Device | None = None,
) -> FlashResult:
    """Flash node `uid` on `port` (a serial device or `socket://host:port` URL).

    Firmware: `firmware_id`, else the node's assignment (see `FirmwareStore.resolve`).
    NVS: `nvs_image`, else the escrowed image (built if missing). With `nvs_only`, only the
    NVS partition is written, at the offset the chip's own partition table gives.
    `progress(stage, done, total)` is called as work proceeds. `device`: an already open
    connection to `port` (from `open_device`, e.g. the one that identified the board), used
    instead of connecting again; the caller closes it. Raises NotFound (no firmware
    assigned / no template), Conflict (wrong board), ValidationError (chip or size
    mismatch), DeviceError (the port failed, e.g. unplugged: nothing is recorded as done).
    """
    report = progress or no_progress
    cfg = flashing_settings(ctx)
    started = time.monotonic()
    node = ctx.registry.get_node(uid)
    entry = bundle = None
    if not nvs_only:
        store = FirmwareStore(ctx.registry, ctx.home)
        chosen = store.get(firmware_id) if firmware_id else store.resolve(node)
        entry, bundle = store.load(chosen.id)
        if bundle.chip != node.chip:
            raise ValidationError(
                f"firmware {entry.id} is for {bundle.chip}, node {uid} is {node.chip}",
                node_uid=uid,
            )
    image = _nvs_image(ctx, uid, nvs_image)
    info: DeviceInfo | None = None
    try:
        connection = (
            nullcontext(device)
            if device is not None
            else open_device(port, baud or cfg.baud, cfg.connect_attempts, report)
        )
        with connection as dev:
            info = dev.info
            new_board = check_board(ctx, node, info, replacement)
            if bundle is not None and entry is not None:
                regions = _bundle_regions(bundle)
                regions.append(_nvs_region(f"firmware {entry.id}", bundle.partition_table, image))
            else:
                raw = dev.read(TABLE_OFFSET, TABLE_MAX_SIZE)
                table = parse_partition_table(raw, f"partition table on {port}")
                regions = [_nvs_region(f"device {port}", table, image)]
            regions.sort(key=lambda r: r.offset)
            results = write_regions(dev, regions, report)
            report("reset", 0, 1)
            dev.reset()
            report("reset", 1, 1)
    except FleetError as exc:
        ctx.registry.audit(
            "node.flash",
            node_uid=uid,
            outcome="error",
            detail={"port": port, "error": exc.message, "mac": info.mac if info else None},
        )
        raise
    assert info is not None
    fields: dict[str, Any] = {}
    if entry is not None:
        fields["fw_version"] = entry.version
    if new_board:
        fields["hardware_id"] = info.hardware_id
        fields["mac"] = info.mac
    if fields:
        ctx.registry.update_node(uid, **fields)
    result = FlashResult(
        node_uid=uid,
        port=port,
        chip=info.chip,
        mac=info.mac,
        hardware_id=info.hardware_id,
        firmware_id=entry.id if entry else None,
        fw_version=entry.version if entry else node.fw_version,
        replacement=new_board and node.hardware_id is not None,
        regions=results,
        seconds=round(time.monotonic() - started, 3),
    )
    ctx.registry.audit(
        "node.flash",
        node_uid=uid,
        detail={
            "port": port,
            "mac": info.mac,
            "firmware_id": result.firmware_id,
            "nvs_only": nvs_only,
            "bytes_written": result.bytes_written,
            "bytes_skipped": result.bytes_skipped,
            "seconds": result.seconds,
            "replacement": result.replacement,
            "previous_hardware_id": node.hardware_id if new_board else None,
        },
    )
    return result
