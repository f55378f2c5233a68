"""Build NVS partition images in-process with `esp-idf-nvs-partition-gen` (its in-memory API).

The generator is used as a library (no subprocess per node). Its in-memory API does not
check what its CSV front end checks and mangles some input silently: keys longer than 15
bytes overrun the key field, and keys named `sta.*` / `ap.*` get extra Wi-Fi entries
written next to them. So every entry is validated here first, and encryption keys always
come from `fleet.nvs.xts.generate_key` (os.urandom), never from the generator's keygen.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from dataclasses import dataclass

from esp_idf_nvs_partition_gen import nvs_partition_gen as gen

from fleet.nvs import format as fmt
from fleet.nvs import xts
from fleet.nvs.errors import NvsInputError

ENCODINGS = (
    "u8",
    "i8",
    "u16",
    "i16",
    "u32",
    "i32",
    "u64",
    "i64",
    "string",
    "binary",
    "hex2bin",
    "base64",
)
RESERVED_PREFIXES = ("sta.", "ap.")
DEFAULT_SIZE = 0x6000


@dataclass(frozen=True)
class NvsEntry:
    """One value to write: namespace, key, encoding (as in the generator's CSV) and value.

    `binary` takes bytes; `hex2bin` and `base64` take text; integers take int.
    """

    namespace: str
    key: str
    encoding: str
    value: int | str | bytes


def build_partition(
    entries: Sequence[NvsEntry],
    size: int = DEFAULT_SIZE,
    *,
    version: int = 2,
    key: bytes | None = None,
) -> bytes:
    """An NVS partition image of `size` bytes holding `entries`, in order, namespace by namespace.

    `version` 2 allows multi-page blobs; `key` (64 bytes, see `xts.generate_key`) encrypts
    it. Raises NvsInputError on an entry the firmware or the generator would get wrong, or
    when the entries do not fit.
    """
    check_size(size)
    if version not in (1, 2):
        raise NvsInputError(f"format version must be 1 or 2, not {version}", where="version")
    if key is not None:
        xts.check_key(key)
    for entry in entries:
        validate_entry(entry, version)
    out = io.BytesIO()
    ver_byte = gen.Page.VERSION2 if version == 2 else gen.Page.VERSION1
    try:
        nvs = gen.nvs_open(out, size - fmt.PAGE_SIZE, ver_byte, is_encrypt=key is not None, key=key)
        current: str | None = None
        for entry in entries:
            if entry.namespace != current:
                gen.write_entry(nvs, entry.namespace, "namespace", "", "")
                current = entry.namespace
            gen.write_entry(nvs, entry.key, "data", entry.encoding, _gen_value(entry))
        gen.nvs_close(nvs)
    except gen.PageFullError as exc:  # a value that needs a whole page (see rules.MAX_JSON_BYTES)
        raise NvsInputError(
            "a value is too long to fit in one NVS page (strings: at most 3,967 bytes)",
            where="size",
        ) from exc
    except gen.InsufficientSizeError as exc:
        raise NvsInputError(
            f"{len(entries)} entries do not fit in a 0x{size:x}-byte partition", where="size"
        ) from exc
    except gen.InputError as exc:
        raise NvsInputError(str(exc).strip(), where="generator") from exc
    image = out.getvalue()
    if len(image) != size:  # the generator promises this; a mismatch would be a bug there
        raise NvsInputError(f"generator returned {len(image)} bytes for 0x{size:x}", where="size")
    return image


def check_size(size: int) -> None:
    """Raise NvsInputError unless `size` is whole pages and at least 0x3000 (read/write NVS)."""
    if size % fmt.PAGE_SIZE or size < fmt.MIN_RW_PARTITION:
        raise NvsInputError(
            f"partition size 0x{size:x} must be a multiple of 0x1000 and at least 0x3000",
            where="size",
        )


def validate_entry(entry: NvsEntry, version: int = 2) -> None:
    """Raise NvsInputError naming the entry when the generator would mangle or refuse it."""
    name = f"{entry.namespace}/{entry.key}"
    for label, text in (("namespace", entry.namespace), ("key", entry.key)):
        raw = text.encode("utf-8")
        if not raw:
            raise NvsInputError(f"{label} is empty", where=name)
        if len(raw) > fmt.MAX_KEY_LEN:
            raise NvsInputError(
                f"{label} {text!r} is {len(raw)} bytes; NVS allows {fmt.MAX_KEY_LEN}", where=name
            )
        if not text.isascii() or not text.isprintable():
            raise NvsInputError(f"{label} {text!r} must be printable ASCII", where=name)
    if entry.key.startswith(RESERVED_PREFIXES):
        raise NvsInputError(
            f"key {entry.key!r}: sta.*/ap.* keys are rewritten by the generator (Wi-Fi keys)",
            where=name,
        )
    enc, value = entry.encoding, entry.value
    if enc not in ENCODINGS:
        raise NvsInputError(f"unknown encoding {enc!r}; one of {', '.join(ENCODINGS)}", where=name)
    if enc in fmt.INT_RANGES:
        lo, hi = fmt.INT_RANGES[enc]
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise NvsInputError(
                f"{enc} value {value!r} is not an integer in {lo}..{hi}", where=name
            )
        return
    data = _payload(entry, name)
    limit = fmt.MAX_STRING[version]
    if (enc == "string" or version == 1) and len(data) > limit:
        raise NvsInputError(
            f"{enc} of {len(data)} bytes exceeds {limit} (format v{version})", where=name
        )


def _payload(entry: NvsEntry, name: str) -> bytes:
    """The bytes that will be stored (strings with their NUL)."""
    enc, value = entry.encoding, entry.value
    if enc == "string":
        if not isinstance(value, str):
            raise NvsInputError("string value must be text", where=name)
        if "\x00" in value:
            raise NvsInputError("string value holds a NUL byte", where=name)
        return value.encode("utf-8") + b"\x00"
    if enc == "binary":
        if not isinstance(value, bytes):
            raise NvsInputError("binary value must be bytes", where=name)
        return value
    if not isinstance(value, str):
        raise NvsInputError(f"{enc} value must be text", where=name)
    try:
        if enc == "hex2bin":
            return binascii.a2b_hex(value.strip())
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NvsInputError(f"{enc} value is not valid {enc}: {exc}", where=name) from exc


def _gen_value(entry: NvsEntry) -> int | str | bytes:
    """The value as the generator's `write_entry` expects it."""
    if entry.encoding in fmt.INT_RANGES:
        return str(entry.value)
    return entry.value
