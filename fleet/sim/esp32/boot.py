"""What a virtual ESP32 would run after a reset: its partition table, app and NVS identity.

This plays the second-stage bootloader plus the firmware's first steps: check the
bootloader image at the chip's offset, read the partition table at 0x8000, pick the app
(factory, else ota_0), check its image header and chip id, read its app description,
and mount the `nvs` partition to read `node_config/config` (the NodeConfig JSON the
hydro 2.0 firmware boots with). Problems are reported in `BootInfo.error`, never raised:
a board with bad flash simply does not come up.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from fleet.nvs.parser import parse_partition
from fleet.sim.esp32.chips import ChipModel
from fleet.sim.esp32.flash import NorFlash

PARTITION_TABLE_OFFSET = 0x8000
_ENTRY_MAGIC = b"\xaa\x50"
_MD5_MAGIC = b"\xeb\xeb"
_APP_DESC_MAGIC = 0xABCD5432
_IMAGE_MAGIC = 0xE9


@dataclass(frozen=True)
class BootPartition:
    """One row of the partition table found on flash."""

    label: str
    type: int
    subtype: int
    offset: int
    size: int


@dataclass(frozen=True)
class BootInfo:
    """The outcome of one boot: ok, or the first reason the board would not come up.

    `node_config` holds the NodeConfig read from NVS (it contains the node secret: it is
    kept out of `repr` so that logging a BootInfo never leaks it).
    """

    ok: bool
    error: str | None
    hardware_id: str
    partitions: tuple[BootPartition, ...] = ()
    app_project: str | None = None
    app_version: str | None = None
    idf_version: str | None = None
    node_config: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def node_uid(self) -> str | None:
        """The `node_id` the firmware would run as (None when NVS holds no config)."""
        value = (self.node_config or {}).get("node_id")
        return str(value) if value is not None else None


def parse_partition_table(raw: bytes) -> tuple[BootPartition, ...]:
    """Rows of an ESP-IDF partition table (stops at the MD5 row or the first blank row)."""
    rows = []
    for pos in range(0, len(raw) - 31, 32):
        entry = raw[pos : pos + 32]
        if entry[:2] == _MD5_MAGIC or entry[:2] != _ENTRY_MAGIC:
            break
        ptype, subtype, offset, size = struct.unpack("<BBII", entry[2:12])
        label = entry[12:28].split(b"\x00", 1)[0].decode("ascii", "replace")
        rows.append(BootPartition(label, ptype, subtype, offset, size))
    return tuple(rows)


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


def boot(flash: NorFlash, chip: ChipModel, hwid: str) -> BootInfo:
    """Boot a `chip` board (hardware_id `hwid`) from `flash` as ROM, bootloader and firmware do."""

    def fail(reason: str, **kw: Any) -> BootInfo:
        return BootInfo(ok=False, error=reason, hardware_id=hwid, **kw)

    if flash.read(chip.bootloader_offset, 1)[0] != _IMAGE_MAGIC:
        return fail(f"no bootloader image at {chip.bootloader_offset:#x}")
    parts = parse_partition_table(flash.read(PARTITION_TABLE_OFFSET, 0xC00))
    if not parts:
        return fail(f"no partition table at {PARTITION_TABLE_OFFSET:#x}")
    apps = [p for p in parts if p.type == 0]
    app = next((p for p in apps if p.subtype == 0x00), None) or next(
        (p for p in apps if p.subtype == 0x10), None
    )
    if app is None:
        return fail("partition table has no factory or ota_0 app", partitions=parts)
    head = flash.read(app.offset, 0x20 + 256)
    if head[0] != _IMAGE_MAGIC:
        return fail(f"no app image in {app.label} at {app.offset:#x}", partitions=parts)
    (image_chip,) = struct.unpack("<H", head[12:14])
    if image_chip != chip.image_chip_id:
        return fail(
            f"app in {app.label} is built for chip id {image_chip}, "
            f"this is {chip.display} ({chip.image_chip_id})",
            partitions=parts,
        )
    desc = head[0x20:]
    project = version = idf = None
    if struct.unpack("<I", desc[:4])[0] == _APP_DESC_MAGIC:
        version, project, idf = _text(desc[16:48]), _text(desc[48:80]), _text(desc[112:144])
    nvs = next((p for p in parts if p.type == 1 and p.subtype == 0x02 and p.label == "nvs"), None)
    config, error = _read_node_config(flash.read(nvs.offset, nvs.size) if nvs else None)
    return BootInfo(
        ok=error is None,
        error=error,
        hardware_id=hwid,
        partitions=parts,
        app_project=project,
        app_version=version,
        idf_version=idf,
        node_config=config,
    )


def _read_node_config(raw: bytes | None) -> tuple[dict[str, Any] | None, str | None]:
    """`node_config/config` from an NVS partition image, or why it could not be read."""
    if raw is None:
        return None, "partition table has no nvs partition"
    if raw.count(0xFF) == len(raw):
        return None, None  # blank NVS: the firmware boots unconfigured (node_hello mode)
    try:
        parsed = parse_partition(raw, strict=False)
        value = parsed.get("node_config", "config")
    except Exception as exc:  # a corrupt partition: the firmware would erase and go blank
        return None, f"nvs: {exc}"
    if not isinstance(value, str):
        return None, "nvs: node_config/config is not a string"
    try:
        config = json.loads(value)
    except ValueError:
        return None, "nvs: node_config/config is not JSON"
    if not isinstance(config, dict):
        return None, "nvs: node_config/config is not a JSON object"
    return config, None
