"""Chip facts: one table, one row per supported ESP32 family member.

Everything that differs between chips (image chip id, bootloader offset, default flash
size, memory map bases used by images) lives here, so that no other module branches on
a chip name. Add a chip by adding a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.errors import ValidationError


@dataclass(frozen=True)
class ChipFacts:
    """What fleet needs to know about one chip."""

    name: str  # esptool's chip argument, e.g. "esp32c3"
    display: str  # esptool's CHIP_NAME, e.g. "ESP32-C3"
    image_chip_id: int  # `chip_id` in the extended image header
    bootloader_offset: int
    default_flash_size: str
    default_flash_mode: str
    default_flash_freq: str
    # Virtual address bases of the memory regions an image maps (generator and checks).
    drom_base: int
    irom_base: int
    dram_base: int
    iram_base: int
    # `flash_size` nibble (high four bits of header byte 3) per size name.
    flash_size_codes: tuple[tuple[str, int], ...] = (
        ("1MB", 0x00),
        ("2MB", 0x10),
        ("4MB", 0x20),
        ("8MB", 0x30),
        ("16MB", 0x40),
    )
    flash_freq_codes: tuple[tuple[str, int], ...] = (
        ("40m", 0x0),
        ("26m", 0x1),
        ("20m", 0x2),
        ("80m", 0xF),
    )

    def flash_size_code(self, size: str) -> int:
        """The header nibble for `size` (e.g. "4MB"); ValidationError if unknown."""
        return _lookup(self.flash_size_codes, size, f"flash size for {self.name}")

    def flash_freq_code(self, freq: str) -> int:
        """The header nibble for `freq` (e.g. "40m"); ValidationError if unknown."""
        return _lookup(self.flash_freq_codes, freq, f"flash frequency for {self.name}")

    def flash_size_name(self, code: int) -> str | None:
        """The size name of a header nibble, or None when the code is not defined."""
        return next((n for n, c in self.flash_size_codes if c == code), None)


FLASH_MODES: dict[str, int] = {"qio": 0, "qout": 1, "dio": 2, "dout": 3}

CHIPS: dict[str, ChipFacts] = {
    c.name: c
    for c in (
        ChipFacts(
            name="esp32",
            display="ESP32",
            image_chip_id=0,
            bootloader_offset=0x1000,
            default_flash_size="4MB",
            default_flash_mode="dio",
            default_flash_freq="40m",
            drom_base=0x3F400000,
            irom_base=0x400D0000,
            dram_base=0x3FFB0000,
            iram_base=0x40080000,
        ),
        ChipFacts(
            name="esp32c3",
            display="ESP32-C3",
            image_chip_id=5,
            bootloader_offset=0x0,
            default_flash_size="4MB",
            default_flash_mode="dio",
            default_flash_freq="80m",
            drom_base=0x3C000000,
            irom_base=0x42000000,
            dram_base=0x3FC88000,
            iram_base=0x40380000,
        ),
        ChipFacts(
            name="esp32s3",
            display="ESP32-S3",
            image_chip_id=9,
            bootloader_offset=0x0,
            default_flash_size="16MB",
            default_flash_mode="dio",
            default_flash_freq="80m",
            drom_base=0x3C000000,
            irom_base=0x42000000,
            dram_base=0x3FC88000,
            iram_base=0x40378000,
        ),
    )
}


def _lookup(table: tuple[tuple[str, int], ...], key: str, what: str) -> int:
    for name, code in table:
        if name.lower() == key.lower():
            return code
    raise ValidationError(f"unknown {what}: {key!r} (known: {', '.join(n for n, _ in table)})")


def normalize_chip_name(name: str) -> str:
    """`ESP32-C3`, `esp32_c3`, `esp32c3` -> `esp32c3`."""
    return name.lower().replace("-", "").replace("_", "")


def chip(name: str) -> ChipFacts:
    """The facts of chip `name` (any spelling esptool or ESP-IDF uses).

    Raises ValidationError naming the chip when it is not supported.
    """
    key = normalize_chip_name(name)
    try:
        return CHIPS[key]
    except KeyError:
        raise ValidationError(
            f"chip {name!r} is not supported (supported: {', '.join(sorted(CHIPS))})", chip=name
        ) from None


def chip_by_image_id(image_chip_id: int) -> ChipFacts | None:
    """The chip whose image header carries `image_chip_id`, or None."""
    return next((c for c in CHIPS.values() if c.image_chip_id == image_chip_id), None)
