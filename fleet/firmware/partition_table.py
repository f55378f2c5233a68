"""ESP-IDF partition tables: parse, build, validate, and the hydro 2.0 layouts.

Binary format (what `gen_esp32part.py` writes): 32-byte rows `<2sBBII16sI>` with magic
AA 50, type, subtype, offset, size, label (NUL padded), flags; then an MD5 row (EB EB,
14 bytes 0xFF, MD5 of all preceding rows); the rest 0xFF up to 0xC00 bytes. The table
sits at 0x8000 on every chip fleet supports.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from dataclasses import dataclass

from fleet.errors import ValidationError

TABLE_OFFSET = 0x8000
TABLE_MAX_SIZE = 0xC00
ROW_SIZE = 32
ENTRY_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"
APP_ALIGN = 0x10000
DATA_ALIGN = 0x1000
SECTOR = 0x1000
OTADATA_SIZE = 0x2000

_ROW = struct.Struct("<2sBBII16sI")

TYPES = {"app": 0x00, "data": 0x01}
APP_SUBTYPES = {"factory": 0x00, "test": 0x20, **{f"ota_{i}": 0x10 + i for i in range(16)}}
DATA_SUBTYPES = {
    "ota": 0x00,
    "phy": 0x01,
    "nvs": 0x02,
    "coredump": 0x03,
    "nvs_keys": 0x04,
    "efuse": 0x05,
    "undefined": 0x06,
    "esphttpd": 0x80,
    "fat": 0x81,
    "spiffs": 0x82,
    "littlefs": 0x83,
}


@dataclass(frozen=True)
class Partition:
    """One row of a partition table."""

    label: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def is_app(self) -> bool:
        return self.type == TYPES["app"]

    @property
    def type_name(self) -> str:
        return next((k for k, v in TYPES.items() if v == self.type), f"0x{self.type:02x}")

    @property
    def subtype_name(self) -> str:
        names = APP_SUBTYPES if self.is_app else DATA_SUBTYPES
        return next((k for k, v in names.items() if v == self.subtype), f"0x{self.subtype:02x}")

    def encode(self) -> bytes:
        """The 32-byte row."""
        label = self.label.encode("ascii")
        if len(label) > 16:
            raise ValidationError(f"partition label {self.label!r} is longer than 16 bytes")
        return _ROW.pack(
            ENTRY_MAGIC,
            self.type,
            self.subtype,
            self.offset,
            self.size,
            label.ljust(16, b"\0"),
            self.flags,
        )


def part(label: str, type_name: str, subtype_name: str, offset: int, size: int) -> Partition:
    """A partition from CSV-style names (`"data", "nvs"`)."""
    type_code = TYPES[type_name]
    names = APP_SUBTYPES if type_name == "app" else DATA_SUBTYPES
    return Partition(label, type_code, names[subtype_name], offset, size)


@dataclass(frozen=True)
class PartitionTable:
    """An ordered partition table."""

    partitions: tuple[Partition, ...]

    def find(self, label: str) -> Partition | None:
        """The partition called `label`, or None."""
        return next((p for p in self.partitions if p.label == label), None)

    def find_type(self, type_name: str, subtype_name: str) -> Partition | None:
        """The first partition of that type and subtype, or None."""
        type_code = TYPES[type_name]
        names = APP_SUBTYPES if type_name == "app" else DATA_SUBTYPES
        sub = names[subtype_name]
        return next((p for p in self.partitions if p.type == type_code and p.subtype == sub), None)

    def at(self, offset: int) -> Partition | None:
        """The partition that starts at `offset`, or None."""
        return next((p for p in self.partitions if p.offset == offset), None)

    @property
    def nvs(self) -> Partition | None:
        """The `nvs` partition (by label, else the first data/nvs)."""
        return self.find("nvs") or self.find_type("data", "nvs")

    @property
    def otadata(self) -> Partition | None:
        return self.find_type("data", "ota")

    @property
    def ota_slots(self) -> tuple[Partition, ...]:
        """The app partitions ota_0..ota_15, in table order."""
        return tuple(p for p in self.partitions if p.is_app and 0x10 <= p.subtype <= 0x1F)

    @property
    def boot_app(self) -> Partition | None:
        """The app partition a fresh bootloader starts: factory, else ota_0."""
        return self.find_type("app", "factory") or next(iter(self.ota_slots), None)

    def encode(self) -> bytes:
        """The 0xC00-byte binary table with its MD5 row."""
        rows = b"".join(p.encode() for p in self.partitions)
        md5_row = MD5_MAGIC + b"\xff" * 14 + hashlib.md5(rows).digest()
        out = rows + md5_row
        if len(out) > TABLE_MAX_SIZE:
            raise ValidationError(f"partition table with {len(self.partitions)} rows is too long")
        return out.ljust(TABLE_MAX_SIZE, b"\xff")

    def validate(self, flash_size: int | None = None, name: str = "partition table") -> None:
        """Check layout rules; raise ValidationError naming the partition at fault.

        Rules: unique labels; app partitions 64 KiB aligned, data 4 KiB aligned; nothing
        before 0x9000 (the table's own sector); no overlaps; within `flash_size` when given;
        at least one app partition; OTA slots need an otadata partition of 0x2000 bytes.
        """
        seen: set[str] = set()
        if not any(p.is_app for p in self.partitions):
            raise ValidationError(f"{name}: no app partition", file=name)
        for p in self.partitions:
            where = f"{name}: partition {p.label!r} at 0x{p.offset:x}"
            if p.label in seen:
                raise ValidationError(f"{where}: duplicate label", file=name)
            seen.add(p.label)
            align = APP_ALIGN if p.is_app else DATA_ALIGN
            if p.offset % align:
                raise ValidationError(f"{where}: offset not aligned to 0x{align:x}", file=name)
            if p.size <= 0:
                raise ValidationError(f"{where}: empty", file=name)
            if p.offset < TABLE_OFFSET + SECTOR:
                raise ValidationError(f"{where}: overlaps the bootloader or the table", file=name)
            if flash_size is not None and p.end > flash_size:
                raise ValidationError(
                    f"{where}: ends at 0x{p.end:x}, past the 0x{flash_size:x}-byte flash",
                    file=name,
                )
        ordered = sorted(self.partitions, key=lambda q: q.offset)
        for a, b in itertools.pairwise(ordered):
            if b.offset < a.end:
                raise ValidationError(
                    f"{name}: partition {b.label!r} at 0x{b.offset:x} overlaps {a.label!r} "
                    f"(ends 0x{a.end:x})",
                    file=name,
                )
        if self.ota_slots:
            ota = self.otadata
            if ota is None:
                raise ValidationError(f"{name}: OTA slots without an otadata partition", file=name)
            if ota.size != OTADATA_SIZE:
                raise ValidationError(
                    f"{name}: otadata is 0x{ota.size:x} bytes, must be 0x{OTADATA_SIZE:x}",
                    file=name,
                )


def parse_partition_table(data: bytes, name: str = "partition table") -> PartitionTable:
    """Parse a binary table; raise ValidationError naming `name` and the row at fault.

    The MD5 row is required and must match (ESP-IDF writes it by default); rows after it
    must be 0xFF.
    """
    partitions: list[Partition] = []
    for pos in range(0, min(len(data), TABLE_MAX_SIZE), ROW_SIZE):
        row = data[pos : pos + ROW_SIZE]
        if len(row) < ROW_SIZE:
            raise ValidationError(f"{name}: truncated row at offset 0x{pos:x}", file=name)
        if row[:2] == MD5_MAGIC:
            expected = hashlib.md5(data[:pos]).digest()
            if row[16:] != expected:
                raise ValidationError(
                    f"{name}: MD5 row at offset 0x{pos:x} does not match the rows before it",
                    file=name,
                )
            if not partitions:
                raise ValidationError(f"{name}: no partitions before the MD5 row", file=name)
            return PartitionTable(tuple(partitions))
        if row == b"\xff" * ROW_SIZE:
            break
        if row[:2] != ENTRY_MAGIC:
            raise ValidationError(
                f"{name}: row at offset 0x{pos:x} has magic {row[:2].hex()}, expected aa50",
                file=name,
            )
        _m, ptype, subtype, offset, size, label, flags = _ROW.unpack(row)
        try:
            text = label.split(b"\0", 1)[0].decode("ascii")
        except UnicodeDecodeError:
            raise ValidationError(
                f"{name}: row at offset 0x{pos:x} has a non-ASCII label", file=name
            ) from None
        partitions.append(Partition(text, ptype, subtype, offset, size, flags))
    raise ValidationError(f"{name}: no MD5 row (not a partition table, or truncated)", file=name)


KIB = 1024

# The production layout of every hydro 2.0 node (DESIGN.md section 2).
HYDRO_FACTORY = PartitionTable(
    (
        part("nvs", "data", "nvs", 0x9000, 0x6000),
        part("phy_init", "data", "phy", 0xF000, 0x1000),
        part("factory", "app", "factory", 0x10000, 1792 * KIB),
    )
)

# The same node with two OTA slots (what the OTA design needs); fits 4 MB.
HYDRO_OTA = PartitionTable(
    (
        part("nvs", "data", "nvs", 0x9000, 0x4000),
        part("otadata", "data", "ota", 0xD000, OTADATA_SIZE),
        part("phy_init", "data", "phy", 0xF000, 0x1000),
        part("ota_0", "app", "ota_0", 0x10000, 1792 * KIB),
        part("ota_1", "app", "ota_1", 0x1D0000, 1792 * KIB),
    )
)

LAYOUTS: dict[str, PartitionTable] = {"factory": HYDRO_FACTORY, "ota": HYDRO_OTA}
