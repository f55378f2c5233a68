"""Key-encryption keys: loading, creating (mode 0600) and identifying them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fleet.errors import VaultError

KEY_BYTES = 32


def key_id(key: bytes) -> str:
    """A public fingerprint of `key` (16 hex characters); reveals nothing of the key."""
    return hashlib.sha256(b"fleet-vault-key-id\0" + key).hexdigest()[:16]


def encode_key(key: bytes) -> str:
    """The text form of a key, as kept in the key file or FLEET_VAULT_KEY."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, where: str) -> bytes:
    """A 32-byte key from its base64 (or 64-hex) text form."""
    text = text.strip()
    raw: bytes | None = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise VaultError(f"{where} does not hold a base64 key") from None
    if len(raw) != KEY_BYTES:
        raise VaultError(f"{where} holds a {len(raw)}-byte key; a 32-byte key is needed")
    return raw


def write_key_file(path: Path, key: bytes) -> None:
    """Create `path` with mode 0600 holding `key`; never replaces an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (encode_key(key) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_key_file(path: Path) -> bytes:
    """The key in `path`; refuses a file that others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VaultError(f"key file {path} does not exist (run `fleet init`)", path=path) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultError(
            f"key file {path} has mode {stat.S_IMODE(mode):04o}; it must be 0600 "
            f"(chmod 600 {path})",
            path=path,
        )
    return decode_key(path.read_text(encoding="ascii"), str(path))


@dataclass
class Keyring:
    """The keys that can open vault records, by key id; `current` encrypts new records."""

    keys: dict[str, bytes]
    current: str
    key_file: Path
    from_env: bool = False

    @classmethod
    def load(cls, key_file: Path, environ: Mapping[str, str] | None = None) -> Keyring:
        """The key from FLEET_VAULT_KEY, else the key file (plus a rotation's `.new` key)."""
        env = os.environ if environ is None else environ
        keys: dict[str, bytes] = {}
        current: str | None = None
        from_env = False
        if env.get("FLEET_VAULT_KEY"):
            k = decode_key(env["FLEET_VAULT_KEY"], "FLEET_VAULT_KEY")
            current = key_id(k)
            keys[current] = k
            from_env = True
        elif key_file.exists():
            k = read_key_file(key_file)
            current = key_id(k)
            keys[current] = k
            pending = rotation_path(key_file)
            if pending.exists():
                p = read_key_file(pending)
                keys[key_id(p)] = p
        if current is None:
            raise VaultError(
                f"no vault key: {key_file} is missing and FLEET_VAULT_KEY is not set "
                "(run `fleet init`)"
            )
        return cls(keys, current, key_file, from_env)

    def get(self, kid: str, where: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise VaultError(
                f"{where} is encrypted under key {kid}, which this vault key does not match "
                "(wrong FLEET_VAULT_KEY or key file?)"
            ) from None


def rotation_path(key_file: Path) -> Path:
    """Where a rotation keeps the new key until every record is re-encrypted."""
    return key_file.with_name(key_file.name + ".new")


def new_key() -> bytes:
    """32 bytes from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)
