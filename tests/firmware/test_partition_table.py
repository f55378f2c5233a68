"""Partition tables: the binary round trip and the layout rules."""

from __future__ import annotations

import hashlib

import pytest

from fleet.errors import ValidationError
from fleet.firmware.partition_table import (
    HYDRO_FACTORY,
    HYDRO_OTA,
    PartitionTable,
    parse_partition_table,
    part,
)


def test_hydro_factory_layout_matches_design() -> None:
    """The production table is nvs 0x9000/0x6000, phy_init 0xf000/0x1000, factory 0x10000/1792K."""
    rows = [(p.label, p.offset, p.size) for p in HYDRO_FACTORY.partitions]
    assert [
        ("nvs", 0x9000, 0x6000),
        ("phy_init", 0xF000, 0x1000),
        ("factory", 0x10000, 1792 * 1024),
    ] == rows


@pytest.mark.parametrize("table", [HYDRO_FACTORY, HYDRO_OTA])
def test_roundtrip(table: PartitionTable) -> None:
    """parse(encode(t)) == t, the binary is 0xC00 bytes with a correct MD5 row."""
    raw = table.encode()
    assert 0xC00 == len(raw)
    n = len(table.partitions) * 32
    assert hashlib.md5(raw[:n]).digest() == raw[n + 16 : n + 32]
    assert table == parse_partition_table(raw)
    table.validate(4 << 20)


def test_nvs_size_is_read_from_table() -> None:
    """The NVS helper gets the nvs partition's size from a parsed table."""
    nvs = parse_partition_table(HYDRO_OTA.encode()).nvs
    assert nvs is not None
    assert (0x9000, 0x4000) == (nvs.offset, nvs.size)


def test_overlap_is_refused() -> None:
    """Two partitions sharing bytes are refused, naming both."""
    table = PartitionTable(
        (
            part("nvs", "data", "nvs", 0x9000, 0x8000),
            part("factory", "app", "factory", 0x10000, 0x100000),
        )
    )
    with pytest.raises(ValidationError, match="'factory' at 0x10000 overlaps 'nvs'"):
        table.validate()


def test_unaligned_app_is_refused() -> None:
    """An app partition not on a 64 KiB boundary is refused."""
    table = PartitionTable((part("factory", "app", "factory", 0x11000, 0x100000),))
    with pytest.raises(ValidationError, match="not aligned to 0x10000"):
        table.validate()


def test_table_past_flash_end_is_refused() -> None:
    """The OTA layout does not fit a 2 MB flash."""
    with pytest.raises(ValidationError, match="past the 0x200000-byte flash"):
        HYDRO_OTA.validate(2 << 20)


def test_random_bytes_are_not_a_table() -> None:
    """Bytes that are not a partition table are refused at the first row."""
    with pytest.raises(ValidationError, match="offset 0x0 has magic"):
        parse_partition_table(b"\x12\x34" + b"\0" * 3070)
