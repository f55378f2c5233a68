"""The descriptions ESP-IDF embeds in images: `esp_app_desc_t` and `esp_bootloader_desc_t`.

An app's first DROM segment starts with the 256-byte app description (magic 0xABCD5432,
version, project name, build time and date, IDF version, ELF SHA-256). A bootloader's
first DRAM segment starts with the 80-byte bootloader description (magic byte 0x50).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from fleet.errors import ValidationError

APP_DESC_MAGIC = 0xABCD5432
BOOTLOADER_DESC_MAGIC = 0x50

_APP = struct.Struct("<II8s32s32s16s16s32s32sHHB3s72s")  # 256 bytes
_BOOT = struct.Struct("<B3sI32s24s16s")  # 80 bytes
APP_DESC_SIZE = _APP.size
BOOTLOADER_DESC_SIZE = _BOOT.size


def _text(raw: bytes, field: str, name: str) -> str:
    value = raw.split(b"\0", 1)[0]
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        raise ValidationError(f"{name}: app description {field} is not ASCII", file=name) from None
    if not text.isprintable():
        raise ValidationError(f"{name}: app description {field} has control characters", file=name)
    return text


def _field(text: str, size: int, field: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) >= size:
        raise ValidationError(f"app description {field} {text!r} is longer than {size - 1} bytes")
    return raw.ljust(size, b"\0")


@dataclass(frozen=True)
class AppDescription:
    """What an app says about itself."""

    project: str
    version: str
    idf_version: str
    date: str = ""
    time: str = ""
    secure_version: int = 0
    elf_sha256: str = ""  # hex

    def encode(self) -> bytes:
        """The 256-byte `esp_app_desc_t`."""
        return _APP.pack(
            APP_DESC_MAGIC,
            self.secure_version,
            b"\0" * 8,
            _field(self.version, 32, "version"),
            _field(self.project, 32, "project"),
            _field(self.time, 16, "time"),
            _field(self.date, 16, "date"),
            _field(self.idf_version, 32, "idf_version"),
            bytes.fromhex(self.elf_sha256) if self.elf_sha256 else b"\0" * 32,
            0,
            0xFFFF,
            16,  # mmu page size 2**16 = 64 KB
            b"\0" * 3,
            b"\0" * 72,
        )


def parse_app_description(segment: bytes, name: str = "app") -> AppDescription:
    """Parse the app description at the start of `segment` (the first DROM segment).

    Raises ValidationError naming `name` when the magic is wrong or a field is unreadable
    (project and version must not be empty).
    """
    if len(segment) < APP_DESC_SIZE:
        raise ValidationError(
            f"{name}: first DROM segment is {len(segment)} bytes, too short for an app description",
            file=name,
        )
    fields = _APP.unpack_from(segment, 0)
    magic = fields[0]
    if magic != APP_DESC_MAGIC:
        raise ValidationError(
            f"{name}: no app description (magic 0x{magic:08x}, expected 0xabcd5432)", file=name
        )
    desc = AppDescription(
        secure_version=fields[1],
        version=_text(fields[3], "version", name),
        project=_text(fields[4], "project_name", name),
        time=_text(fields[5], "time", name),
        date=_text(fields[6], "date", name),
        idf_version=_text(fields[7], "idf_ver", name),
        elf_sha256=fields[8].hex(),
    )
    if not desc.project or not desc.version:
        raise ValidationError(
            f"{name}: app description has an empty project name or version", file=name
        )
    return desc


@dataclass(frozen=True)
class BootloaderDescription:
    """What a bootloader says about itself."""

    version: int
    idf_version: str
    date_time: str = ""

    def encode(self) -> bytes:
        """The 80-byte `esp_bootloader_desc_t`."""
        return _BOOT.pack(
            BOOTLOADER_DESC_MAGIC,
            b"\0" * 3,
            self.version,
            _field(self.idf_version, 32, "idf_version"),
            _field(self.date_time, 24, "date_time"),
            b"\0" * 16,
        )


def parse_bootloader_description(segment: bytes, name: str = "bootloader") -> BootloaderDescription:
    """Parse the bootloader description at the start of `segment` (the first DRAM segment).

    Raises ValidationError naming `name` when the magic byte is wrong or the segment short.
    """
    if len(segment) < BOOTLOADER_DESC_SIZE or segment[0] != BOOTLOADER_DESC_MAGIC:
        raise ValidationError(f"{name}: no bootloader description (magic 0x50)", file=name)
    _m, _r, version, idf, date_time, _r2 = _BOOT.unpack_from(segment, 0)
    return BootloaderDescription(
        version=version,
        idf_version=_text(idf, "idf_ver", name),
        date_time=_text(date_time, "date_time", name),
    )
