"""NVS encryption (XTS-AES-256): keys from `os.urandom`, the `nvs_keys` partition, entry decryption.

ESP-IDF encrypts each written 32-byte entry separately, with the entry's offset in the
partition as tweak (see `format.xts_tweak`); page headers and bitmaps stay in clear. The
64-byte key is the data-encryption key followed by the tweak key. The `nvs_keys` partition
(4096 bytes) holds those 64 bytes, then their CRC32, then 0xFF.
"""

from __future__ import annotations

import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fleet.nvs import format as fmt
from fleet.nvs.errors import NvsCorrupt, NvsInputError

KEY_SIZE = 64
KEYS_PARTITION_SIZE = 4096


def generate_key() -> bytes:
    """A fresh 64-byte XTS key from `os.urandom` (its two halves always differ)."""
    while True:
        key = os.urandom(KEY_SIZE)
        if key[:32] != key[32:]:
            return key


def keys_partition(key: bytes) -> bytes:
    """The 4096-byte `nvs_keys` partition image holding `key`, as ESP-IDF reads it."""
    check_key(key)
    buf = bytearray(b"\xff" * KEYS_PARTITION_SIZE)
    buf[:KEY_SIZE] = key
    struct.pack_into("<I", buf, KEY_SIZE, fmt.crc32(key))
    return bytes(buf)


def key_from_keys_partition(data: bytes) -> bytes:
    """The 64-byte key inside an `nvs_keys` partition; raises NvsCorrupt on a bad size or CRC."""
    if len(data) < KEY_SIZE + 4:
        raise NvsCorrupt(f"{len(data)} bytes is too short for an nvs_keys partition", where="keys")
    key = bytes(data[:KEY_SIZE])
    (stored,) = struct.unpack_from("<I", data, KEY_SIZE)
    if stored != fmt.crc32(key):
        raise NvsCorrupt(
            f"key CRC32 mismatch (stored 0x{stored:08x}, computed 0x{fmt.crc32(key):08x})",
            where="keys",
        )
    return key


def coerce_key(key: bytes) -> bytes:
    """`key` as 64 raw bytes: accepts the raw key or a whole `nvs_keys` partition."""
    if len(key) == KEY_SIZE:
        check_key(key)
        return bytes(key)
    if len(key) == KEYS_PARTITION_SIZE:
        return key_from_keys_partition(key)
    raise NvsInputError(
        f"an NVS key is {KEY_SIZE} bytes or a {KEYS_PARTITION_SIZE}-byte nvs_keys partition, "
        f"not {len(key)} bytes",
        where="key",
    )


def check_key(key: bytes) -> None:
    """Raise NvsInputError unless `key` is 64 bytes with two different halves."""
    if len(key) != KEY_SIZE:
        raise NvsInputError(f"key must be {KEY_SIZE} bytes, got {len(key)}", where="key")
    if key[:32] == key[32:]:
        raise NvsInputError("the two halves of an XTS key must differ", where="key")


def decrypt_entry(key: bytes, page_index: int, entry_index: int, data: bytes) -> bytes:
    """Decrypt one 32-byte entry found at (`page_index`, `entry_index`)."""
    cipher = Cipher(algorithms.AES(key), modes.XTS(fmt.xts_tweak(page_index, entry_index)))
    dec = cipher.decryptor()
    return dec.update(data) + dec.finalize()
