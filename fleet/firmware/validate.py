"""Validation of a firmware bundle before it is accepted into the store.

esptool refuses a wrong-chip image only at the bootloader offset; fleet refuses a bundle
that is not exactly right for its chip before anything reaches a device. Each refusal is a
ValidationError whose message names the file and the reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fleet.errors import ValidationError
from fleet.firmware.app_desc import AppDescription, parse_app_description
from fleet.firmware.bundle import BundleFile, RawBundle
from fleet.firmware.chips import FLASH_MODES, ChipFacts, chip
from fleet.firmware.image import Image, parse_image
from fleet.firmware.partition_table import (
    OTADATA_SIZE,
    TABLE_OFFSET,
    PartitionTable,
    parse_partition_table,
)

_FLASH_SIZE_BYTES = {f"{n}MB": n << 20 for n in (1, 2, 4, 8, 16)}


@dataclass(frozen=True)
class FirmwareBundle:
    """A bundle that passed every check: what the store keeps and the flasher writes."""

    chip: str
    flash_mode: str
    flash_size: str
    flash_freq: str
    app: AppDescription
    partition_table: PartitionTable
    files: tuple[BundleFile, ...]  # in flash order
    app_sha256: str  # hex SHA-256 of the app binary (the OTA checksum)

    def file(self, role: str) -> BundleFile | None:
        """The file with `role`, or None."""
        return next((f for f in self.files if f.role == role), None)

    @property
    def flash_size_bytes(self) -> int | None:
        return _FLASH_SIZE_BYTES.get(self.flash_size.upper())

    @property
    def total_size(self) -> int:
        return sum(len(f.data) for f in self.files)


def _check_image(facts: ChipFacts, f: BundleFile) -> Image:
    image = parse_image(f.data, f.name)
    if image.header.chip_id != facts.image_chip_id:
        raise ValidationError(
            f"{f.name}: built for chip id {image.header.chip_id}, the bundle is {facts.name} "
            f"(chip id {facts.image_chip_id})",
            file=f.name,
        )
    if not image.checksum_ok:
        raise ValidationError(
            f"{f.name}: checksum 0x{image.checksum:02x} does not match the segments "
            f"(0x{image.computed_checksum:02x}): tampered or corrupt",
            file=f.name,
        )
    if not image.digest_ok:
        raise ValidationError(
            f"{f.name}: appended SHA-256 does not match the image: tampered or corrupt",
            file=f.name,
        )
    if facts.flash_size_name(image.header.flash_size_code) is None:
        raise ValidationError(
            f"{f.name}: invalid flash size code 0x{image.header.flash_size_code:02x}",
            file=f.name,
        )
    if image.header.flash_mode not in FLASH_MODES.values():
        raise ValidationError(
            f"{f.name}: invalid flash mode {image.header.flash_mode}", file=f.name
        )
    return image


def _app_description(facts: ChipFacts, f: BundleFile, image: Image) -> AppDescription:
    first = image.segments[0]
    if not facts.drom_base <= first.load_addr < facts.drom_base + 0x400000:
        raise ValidationError(
            f"{f.name}: first segment loads at 0x{first.load_addr:08x}, not DROM: "
            "no app description (is this a bootloader?)",
            file=f.name,
        )
    return parse_app_description(first.data, f.name)


def validate_bundle(raw: RawBundle) -> FirmwareBundle:
    """Check every rule of a bundle; return it validated or raise ValidationError.

    Rules: known chip; bootloader at the chip's offset, a valid image for that chip that
    ends before the partition table; the table at 0x8000 with a good MD5 row and a sound
    layout within the flash size; an app image for the chip with a valid checksum, SHA-256
    and app description, written at an app partition's offset and fitting it; otadata
    (when the table has OTA slots) at the otadata partition, 0x2000 bytes.
    """
    facts = chip(raw.chip)
    files = raw.files
    if raw.flash_mode.lower() not in FLASH_MODES:
        raise ValidationError(f"{raw.source}: unknown flash mode {raw.flash_mode!r}")
    size_name = raw.flash_size.upper()
    flash_size = _FLASH_SIZE_BYTES.get(size_name)
    if flash_size is None:  # "detect" / "keep": judge against the chip's usual size
        size_name = facts.default_flash_size
        flash_size = _FLASH_SIZE_BYTES[size_name]

    boot = files["bootloader"]
    if boot.offset != facts.bootloader_offset:
        raise ValidationError(
            f"{boot.name}: bootloader offset 0x{boot.offset:x} is wrong for {facts.name} "
            f"(expected 0x{facts.bootloader_offset:x})",
            file=boot.name,
        )
    _check_image(facts, boot)
    if boot.offset + len(boot.data) > TABLE_OFFSET:
        raise ValidationError(
            f"{boot.name}: bootloader of {len(boot.data)} bytes at 0x{boot.offset:x} runs into "
            f"the partition table at 0x{TABLE_OFFSET:x}",
            file=boot.name,
        )

    pt = files["partition-table"]
    if pt.offset != TABLE_OFFSET:
        raise ValidationError(
            f"{pt.name}: partition table offset 0x{pt.offset:x}, expected 0x{TABLE_OFFSET:x}",
            file=pt.name,
        )
    table = parse_partition_table(pt.data, pt.name)
    table.validate(flash_size, pt.name)

    app = files["app"]
    app_image = _check_image(facts, app)
    desc = _app_description(facts, app, app_image)
    slot = table.at(app.offset)
    if slot is None or not slot.is_app:
        raise ValidationError(
            f"{app.name}: app offset 0x{app.offset:x} is not the start of an app partition",
            file=app.name,
        )
    if len(app.data) > slot.size:
        raise ValidationError(
            f"{app.name}: app of {len(app.data)} bytes does not fit partition {slot.label!r} "
            f"({slot.size} bytes)",
            file=app.name,
        )

    otadata_part = table.otadata
    ota = files.get("otadata")
    if otadata_part is not None and ota is None:
        raise ValidationError(
            f"{raw.source}: the partition table has otadata but the bundle has no "
            "ota_data_initial.bin",
            file=raw.source,
        )
    if ota is not None:
        if otadata_part is None or ota.offset != otadata_part.offset:
            raise ValidationError(
                f"{ota.name}: otadata offset 0x{ota.offset:x} is not the otadata partition",
                file=ota.name,
            )
        if len(ota.data) != OTADATA_SIZE:
            raise ValidationError(
                f"{ota.name}: otadata is {len(ota.data)} bytes, expected {OTADATA_SIZE}",
                file=ota.name,
            )

    ordered = tuple(sorted(files.values(), key=lambda f: f.offset))
    return FirmwareBundle(
        chip=facts.name,
        flash_mode=raw.flash_mode.lower(),
        flash_size=size_name,
        flash_freq=raw.flash_freq.lower(),
        app=desc,
        partition_table=table,
        files=ordered,
        app_sha256=hashlib.sha256(app.data).hexdigest(),
    )
