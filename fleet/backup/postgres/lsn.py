"""PostgreSQL WAL positions and file names: LSN text <-> integer, segment numbers and names.

Pure arithmetic, no I/O. An LSN is printed as two hex halves (`0/3000028`); a segment file is
named `TTTTTTTTXXXXXXXXYYYYYYYY`: timeline, then the segment number split into "log" and
"segment within log" (256 segments of 16 MiB per 4 GiB log).
"""

from __future__ import annotations

import re

from fleet.errors import UsageError

SEGMENT_SIZE = 16 * 1024 * 1024  # PostgreSQL's default --wal-segsize


def segment_name(timeline: int, segno: int, seg_size: int = SEGMENT_SIZE) -> str:
    """The file name of segment number `segno` on `timeline`."""
    per_log = 0x1_0000_0000 // seg_size
    return f"{timeline:08X}{segno // per_log:08X}{segno % per_log:08X}"


def segment_number(name: str, seg_size: int = SEGMENT_SIZE) -> int:
    """The absolute segment number of a segment file name (timeline ignored)."""
    per_log = 0x1_0000_0000 // seg_size
    return int(name[8:16], 16) * per_log + int(name[16:24], 16)


def parse_lsn(text: str) -> int:
    """`'0/3000028'` -> integer LSN. UsageError on anything else."""
    match = re.fullmatch(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})", text.strip())
    if not match:
        raise UsageError(f"{text!r} is not an LSN (expected e.g. 0/3000028)", lsn=text)
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(lsn: int) -> str:
    """Integer LSN -> `'0/3000028'`."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_segment(lsn: int, seg_size: int = SEGMENT_SIZE) -> int:
    """The segment number that holds `lsn`."""
    return lsn // seg_size
