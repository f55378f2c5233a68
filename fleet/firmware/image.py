"""ESP-IDF image format: the header, segments, checksum and appended SHA-256.

Layout (ESP-IDF "App Image Format", same for bootloader and app images):
8-byte header (magic 0xE9, segment count, flash mode, size/frequency nibbles, entry
point), 16-byte extended header (chip id, chip revisions, hash-appended flag), then the
segments (load address, length, data). After the last segment, zero padding so that the
checksum byte ends on a 16-byte boundary; the checksum is 0xEF XOR every segment data
byte. When the hash flag is set, a SHA-256 of everything up to and including the checksum
follows.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from fleet.errors import ValidationError

IMAGE_MAGIC = 0xE9
CHECKSUM_SEED = 0xEF
MAX_SEGMENTS = 16
WP_PIN_DISABLED = 0xEE
MAX_REV_FULL_ANY = 0xFFFF

_HEADER = struct.Struct("<BBBBI")
_EXTENDED = struct.Struct("<BBBBHBHH4sB")
_SEGMENT = struct.Struct("<II")
HEADER_SIZE = _HEADER.size + _EXTENDED.size  # 24


@dataclass(frozen=True)
class Segment:
    """One image segment: where it loads and its bytes."""

    load_addr: int
    data: bytes
    file_offset: int = 0  # offset of the data inside the image (set by the parser)


@dataclass(frozen=True)
class ImageHeader:
    """The fields of the common and extended headers that fleet uses."""

    segment_count: int
    flash_mode: int
    flash_size_freq: int
    entry: int
    chip_id: int
    min_rev: int = 0
    min_rev_full: int = 0
    max_rev_full: int = MAX_REV_FULL_ANY
    hash_appended: bool = True
    wp_pin: int = WP_PIN_DISABLED

    @property
    def flash_size_code(self) -> int:
        return self.flash_size_freq & 0xF0

    @property
    def flash_freq_code(self) -> int:
        return self.flash_size_freq & 0x0F


@dataclass(frozen=True)
class Image:
    """A parsed image and the facts a validator needs."""

    header: ImageHeader
    segments: tuple[Segment, ...]
    checksum: int
    computed_checksum: int
    length: int  # bytes up to and including the checksum (and the digest, if any)
    stored_digest: bytes | None = None
    computed_digest: bytes | None = None
    trailing: int = 0  # bytes after the image (padding a build may add)
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def checksum_ok(self) -> bool:
        return self.checksum == self.computed_checksum

    @property
    def digest_ok(self) -> bool:
        """True when no digest is appended, or when the appended one matches."""
        return self.stored_digest is None or self.stored_digest == self.computed_digest


def xor_checksum(data: bytes, seed: int = CHECKSUM_SEED) -> int:
    """The ESP ROM's checksum: `seed` XOR every byte of `data`."""
    value = int.from_bytes(data, "little") if data else 0
    # XOR of all bytes equals XOR-folding the big integer's bytes; fold in halves.
    width = len(data)
    while width > 1:
        half = (width + 1) // 2
        value = (value & ((1 << (8 * half)) - 1)) ^ (value >> (8 * half))
        width = half
    return (seed ^ value) & 0xFF


def parse_image(data: bytes, name: str = "image") -> Image:
    """Parse an image; raise ValidationError naming `name` and the offset when malformed.

    Only the structure is checked here (magic, counts, lengths within the file); the
    checksum and digest are computed and reported on the result, for the caller to judge.
    """
    if len(data) < HEADER_SIZE:
        raise ValidationError(
            f"{name}: {len(data)} bytes is too short for an ESP image header", file=name
        )
    magic, count, mode, size_freq, entry = _HEADER.unpack_from(data, 0)
    if magic != IMAGE_MAGIC:
        raise ValidationError(
            f"{name}: not an ESP image (magic 0x{magic:02x} at offset 0, expected 0xe9)",
            file=name,
        )
    if not 1 <= count <= MAX_SEGMENTS:
        raise ValidationError(f"{name}: invalid segment count {count} at offset 1", file=name)
    (wp, _d1, _d2, _d3, chip_id, min_rev, min_full, max_full, _res, hashed) = _EXTENDED.unpack_from(
        data, _HEADER.size
    )
    if hashed not in (0, 1):
        raise ValidationError(
            f"{name}: hash-appended flag is {hashed} at offset 23 (must be 0 or 1)", file=name
        )
    header = ImageHeader(
        segment_count=count,
        flash_mode=mode,
        flash_size_freq=size_freq,
        entry=entry,
        chip_id=chip_id,
        min_rev=min_rev,
        min_rev_full=min_full,
        max_rev_full=max_full,
        hash_appended=bool(hashed),
        wp_pin=wp,
    )
    pos = HEADER_SIZE
    segments: list[Segment] = []
    checksum = CHECKSUM_SEED
    for index in range(count):
        if pos + _SEGMENT.size > len(data):
            raise ValidationError(
                f"{name}: truncated: segment {index} header at offset 0x{pos:x} "
                f"is past the end ({len(data)} bytes)",
                file=name,
            )
        load_addr, length = _SEGMENT.unpack_from(data, pos)
        start = pos + _SEGMENT.size
        if start + length > len(data):
            raise ValidationError(
                f"{name}: truncated: segment {index} at offset 0x{start:x} needs "
                f"{length} bytes, file has {len(data) - start}",
                file=name,
            )
        chunk = data[start : start + length]
        segments.append(Segment(load_addr=load_addr, data=chunk, file_offset=start))
        checksum = xor_checksum(chunk, checksum)
        pos = start + length
    pos += 15 - (pos % 16)  # padding so that the checksum byte ends a 16-byte block
    if pos >= len(data):
        raise ValidationError(
            f"{name}: truncated: checksum byte at offset 0x{pos:x} is past the end", file=name
        )
    stored_checksum = data[pos]
    pos += 1
    stored_digest = computed_digest = None
    if header.hash_appended:
        if pos + 32 > len(data):
            raise ValidationError(
                f"{name}: truncated: SHA-256 digest at offset 0x{pos:x} is past the end",
                file=name,
            )
        computed_digest = hashlib.sha256(data[:pos]).digest()
        stored_digest = data[pos : pos + 32]
        pos += 32
    return Image(
        header=header,
        segments=tuple(segments),
        checksum=stored_checksum,
        computed_checksum=checksum,
        length=pos,
        stored_digest=stored_digest,
        computed_digest=computed_digest,
        trailing=len(data) - pos,
    )


def encode_image(header: ImageHeader, segments: list[Segment]) -> bytes:
    """Serialize `segments` under `header` (count taken from `segments`), with checksum and
    (when `header.hash_appended`) the SHA-256 digest. Segment lengths must be multiples of 4.
    """
    if not 1 <= len(segments) <= MAX_SEGMENTS:
        raise ValidationError(f"an image holds 1..{MAX_SEGMENTS} segments, not {len(segments)}")
    out = bytearray(
        _HEADER.pack(
            IMAGE_MAGIC, len(segments), header.flash_mode, header.flash_size_freq, header.entry
        )
    )
    out += _EXTENDED.pack(
        header.wp_pin,
        0,
        0,
        0,
        header.chip_id,
        header.min_rev,
        header.min_rev_full,
        header.max_rev_full,
        b"\0" * 4,
        1 if header.hash_appended else 0,
    )
    checksum = CHECKSUM_SEED
    for seg in segments:
        if len(seg.data) % 4:
            raise ValidationError(
                f"segment at 0x{seg.load_addr:08x} is {len(seg.data)} bytes, not 4-aligned"
            )
        out += _SEGMENT.pack(seg.load_addr, len(seg.data))
        out += seg.data
        checksum = xor_checksum(seg.data, checksum)
    out += b"\0" * (15 - (len(out) % 16))
    out.append(checksum)
    if header.hash_appended:
        out += hashlib.sha256(out).digest()
    return bytes(out)
