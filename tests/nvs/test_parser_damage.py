"""Damaged and device-worn images: each problem is named by page, entry and check."""

from __future__ import annotations

import struct

import pytest

from fleet.nvs import format as fmt
from fleet.nvs.builder import NvsEntry, build_partition
from fleet.nvs.errors import NvsCorrupt
from fleet.nvs.parser import parse_partition

CONFIG = '{"node_id":"nd-ph-1","version":3}'
BLOB = bytes(range(256)) * 20  # 5120 bytes: two chunks on two pages


def _image() -> bytearray:
    return bytearray(
        build_partition(
            [
                NvsEntry("node_config", "config", "string", CONFIG),
                NvsEntry("logging", "logs", "binary", BLOB),
            ]
        )
    )


def _entry_offset(page: int, entry: int) -> int:
    return page * fmt.PAGE_SIZE + fmt.FIRST_ENTRY_OFFSET + entry * fmt.ENTRY_SIZE


def test_flipped_bit_in_page_header_is_named():
    """A flipped bit in a page header's sequence number fails that page's header CRC."""
    img = _image()
    img[4] ^= 0x01
    with pytest.raises(NvsCorrupt) as err:
        parse_partition(bytes(img))
    assert "page 0 (offset 0x0)" == err.value.where
    assert "page header CRC32 mismatch" in err.value.detail


def test_flipped_bit_in_entry_header_is_named():
    """A flipped bit in the config entry's key fails that entry's CRC, named by page and entry."""
    img = _image()
    img[_entry_offset(0, 1) + 9] ^= 0x20  # entry 0 is the namespace, 1 is config
    part = parse_partition(bytes(img), strict=False)
    assert "page 0 (offset 0x0) entry 1 (offset 0x60)" == part.problems[0].location
    assert "entry header CRC32 mismatch" in part.problems[0].what
    assert "the next 2 written entries fail their CRC too" in part.problems[0].what
    assert 1 == len(part.problems)
    assert "config" not in part.as_dict().get("node_config", {})


def test_flipped_bit_in_blob_chunk_is_named():
    """A flipped bit in a blob chunk's data fails that chunk's data CRC and drops the blob."""
    img = _image()
    part = parse_partition(bytes(img))
    assert BLOB == part.get("logging", "logs")
    img[_entry_offset(1, 1) + 100] ^= 0x80  # inside the second chunk, on page 1
    bad = parse_partition(bytes(img), strict=False)
    whats = [str(p) for p in bad.problems]
    assert any("page 1" in w and "blob_data" in w and "data CRC32 mismatch" in w for w in whats)
    assert any("blob 'logs': chunk 1 of 0..1 is missing" in w for w in whats)
    assert "logs" not in bad.as_dict().get("logging", {})


def test_truncated_file_is_refused():
    """A file cut short is refused as not whole pages."""
    img = _image()
    with pytest.raises(NvsCorrupt) as err:
        parse_partition(bytes(img[:-100]))
    assert "not a whole number of 4096-byte pages" in err.value.detail


def test_wrong_size_is_refused():
    """An image of the wrong size for the node's nvs partition is refused."""
    with pytest.raises(NvsCorrupt) as err:
        parse_partition(bytes(_image()), expected_size=0x5000)
    assert "size 0x6000 differs from the nvs partition size 0x5000" == err.value.detail


def _write_u8(img: bytearray, page: int, entry: int, ns: int, key: str, value: int) -> None:
    raw = bytearray(b"\xff" * 32)
    raw[0:4] = bytes([ns, fmt.T_U8, 1, 0xFF])
    raw[8:24] = key.encode().ljust(16, b"\x00")
    raw[24] = value
    struct.pack_into("<I", raw, 4, fmt.entry_crc(bytes(raw)))
    off = _entry_offset(page, entry)
    img[off : off + 32] = raw
    _mark(img, page, entry, fmt.ENTRY_WRITTEN)


def _mark(img: bytearray, page: int, entry: int, state: int) -> None:
    byte = page * fmt.PAGE_SIZE + fmt.BITMAP_OFFSET + entry // 4
    shift = (entry % 4) * 2
    img[byte] = (img[byte] & ~(0b11 << shift)) | (state << shift)


def test_duplicate_entries_newest_wins_and_erased_are_skipped():
    """As a device leaves them: erased entries are ignored; of two live copies the newest wins."""
    img = bytearray(build_partition([NvsEntry("node_config", "last_temp", "u8", 1)]))
    _write_u8(img, 0, 2, 1, "last_temp", 2)  # rewritten, old copy not erased yet (interrupted)
    _write_u8(img, 0, 3, 1, "gone", 9)
    _mark(img, 0, 3, fmt.ENTRY_ERASED)
    part = parse_partition(bytes(img))
    assert {"node_config": {"last_temp": 2}} == part.as_dict()
    assert [(0, 1)] == [(it.page, it.entry) for it in part.superseded]


def test_wrong_key_is_named():
    """An encrypted image opened with the wrong key fails its entry CRCs with a key hint."""
    from fleet.nvs import xts

    img = build_partition(
        [NvsEntry("node_config", "config", "string", CONFIG)], key=xts.generate_key()
    )
    with pytest.raises(NvsCorrupt) as err:
        parse_partition(img, key=xts.generate_key())
    assert "(wrong key?)" in err.value.detail


def test_flipped_bit_in_bitmap_is_named():
    """A data entry whose bitmap state flipped to empty is named; the string is dropped."""
    img = _image()
    img[fmt.BITMAP_OFFSET] |= 0b01 << 4  # entry 2 (config data) 10 -> 11
    part = parse_partition(bytes(img), strict=False)
    assert [
        "page 0 (offset 0x0) entry 2 (offset 0x80): key 'config' (string, 34 bytes): "
        "data entry 2 is not marked written in the bitmap"
    ] == [str(p) for p in part.problems]
    assert BLOB == part.get("logging", "logs")
