"""What to write: regions of flash, and the parts of them a chip already holds.

Pure planning over an MD5 oracle (`md5_of(offset, size)`, the chip's SPI_FLASH_MD5), so
it is tested without a device. A region identical on the chip is skipped whole; one that
differs is narrowed to 64 KiB blocks, then 4 KiB sectors, stopping at the level where
most parts differ (a blank or foreign chip costs a handful of MD5 queries, not hundreds;
an erased region costs one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

SECTOR = 0x1000
BLOCK = 0x10000

Md5Fn = Callable[[int, int], str]


@dataclass(frozen=True)
class Region:
    """Bytes that belong at `offset` (padded to 4 bytes with 0xFF, as esptool writes them)."""

    label: str
    offset: int
    data: bytes

    @classmethod
    def padded(cls, label: str, offset: int, data: bytes) -> Region:
        pad = (-len(data)) % 4
        return cls(label, offset, data + b"\xff" * pad)

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True)
class RegionPlan:
    """For one region: the (offset, bytes) chunks to write; empty when already on the chip."""

    region: Region
    chunks: tuple[tuple[int, bytes], ...]

    @property
    def write_bytes(self) -> int:
        return sum(len(d) for _, d in self.chunks)

    @property
    def skipped(self) -> bool:
        return not self.chunks


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _changed(region: Region, start: int, end: int, unit: int, md5_of: Md5Fn) -> list[int]:
    """Offsets (relative to the region) of the `unit`-sized parts of [start, end) that differ."""
    out = []
    for rel in range(start, end, unit):
        size = min(unit, end - rel)
        if md5_of(region.offset + rel, size) != _md5(region.data[rel : rel + size]):
            out.append(rel)
    return out


def _merge(parts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(parts):
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def plan_region(region: Region, md5_of: Md5Fn) -> RegionPlan:
    """The chunks of `region` that must be written, judged by the chip's MD5s."""
    size = len(region.data)
    on_chip = md5_of(region.offset, size) if size else ""
    if size == 0 or on_chip == _md5(region.data):
        return RegionPlan(region, ())
    whole = RegionPlan(region, ((region.offset, region.data),))
    if region.offset % SECTOR or on_chip == _md5(b"\xff" * size):
        return whole  # unaligned, or erased flash (a new or wiped board): nothing to keep
    spans = [(0, size)]
    for unit in (BLOCK, SECTOR):
        parts = [(s, e) for s, e in spans if e - s > unit]
        keep = [(s, e) for s, e in spans if e - s <= unit]
        if not parts:
            continue
        total = sum((e - s + unit - 1) // unit for s, e in parts)
        changed = [
            (rel, min(rel + unit, e))
            for s, e in parts
            for rel in _changed(region, s, e, unit, md5_of)
        ]
        if len(changed) * 2 > total:  # most of it differs: finer checks would not pay
            break
        spans = _merge(keep + changed)
    chunks = tuple((region.offset + s, region.data[s:e]) for s, e in _merge(spans))
    return RegionPlan(region, chunks) if chunks else whole
