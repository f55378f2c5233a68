"""The ESP-IDF NVS on-flash format: constants and small pure helpers (no I/O).

A partition is a run of 4096-byte pages. Each page: a 32-byte header (state u32, sequence
number u32, version u8, 19 reserved bytes, CRC32 of bytes 4..28), a 32-byte bitmap with two
bits per entry (11 empty, 10 written, 00 erased), then 126 entries of 32 bytes. An entry:
namespace index u8, type u8, span u8, chunk index u8, CRC32 u32 (of bytes 0..4 and 8..32),
key char[16], then 8 bytes of data: the value of a primitive, or (size u16, reserved u16,
data CRC32 u32) for strings and blob chunks, or (size u32, chunk count u8, chunk start u8,
reserved u16) for a blob index. CRC32 is the ROM's little-endian CRC32 seeded with
0xFFFFFFFF, which is `zlib.crc32(data, 0xFFFFFFFF)`.
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

PAGE_SIZE: Final = 4096
HEADER_SIZE: Final = 32
BITMAP_OFFSET: Final = 32
FIRST_ENTRY_OFFSET: Final = 64
ENTRY_SIZE: Final = 32
ENTRIES_PER_PAGE: Final = 126
KEY_FIELD_SIZE: Final = 16
MAX_KEY_LEN: Final = 15
CHUNK_ANY: Final = 0xFF
MIN_RW_PARTITION: Final = 0x3000

# Page states (bits are cleared one by one as the page advances).
STATE_UNINITIALIZED: Final = 0xFFFFFFFF
STATE_ACTIVE: Final = 0xFFFFFFFE
STATE_FULL: Final = 0xFFFFFFFC
STATE_FREEING: Final = 0xFFFFFFF8
STATE_CORRUPT: Final = 0xFFFFFFF0
STATE_INVALID: Final = 0x00000000
PAGE_STATES: Final = {
    STATE_UNINITIALIZED: "UNINITIALIZED",
    STATE_ACTIVE: "ACTIVE",
    STATE_FULL: "FULL",
    STATE_FREEING: "FREEING",
    STATE_CORRUPT: "CORRUPT",
    STATE_INVALID: "INVALID",
}

# Page format versions (byte 8 of the header).
VERSION1_BYTE: Final = 0xFF  # single-page blobs
VERSION2_BYTE: Final = 0xFE  # multi-page blobs (BLOB_IDX + BLOB_DATA)
VERSIONS: Final = {VERSION1_BYTE: 1, VERSION2_BYTE: 2}

# Entry states in the bitmap.
ENTRY_EMPTY: Final = 0b11
ENTRY_WRITTEN: Final = 0b10
ENTRY_ERASED: Final = 0b00
ENTRY_ILLEGAL: Final = 0b01

# Item types: name, struct format of a primitive value.
T_U8, T_I8, T_U16, T_I16 = 0x01, 0x11, 0x02, 0x12
T_U32, T_I32, T_U64, T_I64 = 0x04, 0x14, 0x08, 0x18
T_SZ, T_BLOB, T_BLOB_DATA, T_BLOB_IDX = 0x21, 0x41, 0x42, 0x48
PRIMITIVES: Final = {
    T_U8: ("u8", "<B"),
    T_I8: ("i8", "<b"),
    T_U16: ("u16", "<H"),
    T_I16: ("i16", "<h"),
    T_U32: ("u32", "<I"),
    T_I32: ("i32", "<i"),
    T_U64: ("u64", "<Q"),
    T_I64: ("i64", "<q"),
}
VARIABLE: Final = {T_SZ: "string", T_BLOB: "blob", T_BLOB_DATA: "blob_data"}
TYPE_NAMES: Final = {
    **{code: name for code, (name, _) in PRIMITIVES.items()},
    **VARIABLE,
    T_BLOB_IDX: "blob_index",
}
INT_RANGES: Final = {
    name: (
        (0, (1 << (8 * struct.calcsize(fmt))) - 1)
        if name.startswith("u")
        else (-(1 << (8 * struct.calcsize(fmt) - 1)), (1 << (8 * struct.calcsize(fmt) - 1)) - 1)
    )
    for name, fmt in PRIMITIVES.values()
}
# Longest string (with its NUL) per version; v2 blobs are split over pages instead.
MAX_STRING: Final = {1: 1984, 2: 4000}


def crc32(data: bytes) -> int:
    """The NVS CRC32 of `data` (ROM CRC32-LE, seed 0xFFFFFFFF)."""
    return zlib.crc32(data, 0xFFFFFFFF) & 0xFFFFFFFF


def header_crc(header: bytes) -> int:
    """CRC32 a page header must carry: over bytes 4..28."""
    return crc32(header[4:28])


def entry_crc(entry: bytes) -> int:
    """CRC32 an entry must carry: over bytes 0..4 and 8..32 (the CRC field itself skipped)."""
    return crc32(entry[0:4] + entry[8:32])


def entry_state(bitmap: bytes, index: int) -> int:
    """The two-bit state of entry `index` in a page's 32-byte bitmap."""
    return (bitmap[index // 4] >> ((index % 4) * 2)) & 0b11


def xts_tweak(page_index: int, entry_index: int) -> bytes:
    """The XTS tweak of an entry: its byte offset in the partition, 16 bytes little-endian."""
    offset = page_index * PAGE_SIZE + FIRST_ENTRY_OFFSET + entry_index * ENTRY_SIZE
    return offset.to_bytes(16, "little")


def where(page: int, entry: int | None = None) -> str:
    """A location as reports print it: page, its partition offset, and the entry."""
    text = f"page {page} (offset 0x{page * PAGE_SIZE:x})"
    if entry is not None:
        offset = page * PAGE_SIZE + FIRST_ENTRY_OFFSET + entry * ENTRY_SIZE
        text += f" entry {entry} (offset 0x{offset:x})"
    return text
