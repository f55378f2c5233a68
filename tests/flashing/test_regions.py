"""Fast-reflash planning: skip what the chip holds, narrow the rest, cheaply."""

from __future__ import annotations

import hashlib
import random

from fleet.flashing.regions import Region, plan_region


class FakeChip:
    """A flash image answering MD5 queries, counting them."""

    def __init__(self, data: bytes, base: int) -> None:
        self.data, self.base, self.calls = data, base, 0

    def md5(self, offset: int, size: int) -> str:
        self.calls += 1
        rel = offset - self.base
        return hashlib.md5(self.data[rel : rel + size]).hexdigest()


def _app(size: int) -> bytes:
    return random.Random(1).randbytes(size)


def test_identical_region_is_skipped_with_one_query() -> None:
    """A region already on the chip costs one MD5 and writes nothing."""
    data = _app(300_000)
    chip = FakeChip(data, 0x10000)
    plan = plan_region(Region("app", 0x10000, data), chip.md5)
    assert (True, 1) == (plan.skipped, chip.calls)


def test_one_changed_sector_is_all_that_is_written() -> None:
    """One byte changed in a 300 KB app rewrites just its 4 KiB sector."""
    old = _app(300_000)
    new = bytearray(old)
    new[0x23456] ^= 0xFF
    plan = plan_region(Region("app", 0x10000, bytes(new)), FakeChip(old, 0x10000).md5)
    assert [(0x10000 + 0x23000, 0x1000)] == [(o, len(d)) for o, d in plan.chunks]


def test_changed_nvs_sectors_only() -> None:
    """In a 24 KiB NVS partition, only the sectors that differ are written."""
    old = b"\x01" * 0x2000 + b"\xff" * 0x4000
    new = bytearray(old)
    new[0x1000:0x1020] = b"\x02" * 32
    plan = plan_region(Region("nvs", 0x9000, bytes(new)), FakeChip(old, 0x9000).md5)
    assert [(0xA000, 0x1000)] == [(o, len(d)) for o, d in plan.chunks]


def test_blank_chip_costs_one_query() -> None:
    """On an erased chip a 1.5 MB app costs one MD5 query, then one whole write."""
    data = _app(1_500_000)
    chip = FakeChip(b"\xff" * len(data), 0x10000)
    plan = plan_region(Region("app", 0x10000, data), chip.md5)
    assert [(0x10000, len(data))] == [(o, len(d)) for o, d in plan.chunks]
    assert 1 == chip.calls


def test_foreign_app_is_not_probed_sector_by_sector() -> None:
    """Another app on the chip costs a few dozen MD5 queries, then one whole write."""
    data = _app(1_500_000)
    chip = FakeChip(random.Random(2).randbytes(len(data)), 0x10000)
    plan = plan_region(Region("app", 0x10000, data), chip.md5)
    assert [(0x10000, len(data))] == [(o, len(d)) for o, d in plan.chunks]
    assert chip.calls <= 1 + len(data) // 0x10000 + 1


def test_padding_matches_what_esptool_writes() -> None:
    """Regions are padded with 0xFF to 4 bytes, as esptool pads before writing."""
    assert b"abc\xff" == Region.padded("x", 0, b"abc").data
