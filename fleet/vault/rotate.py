"""Key rotation that can be interrupted at any record and resumed.

1. The new key is written to `<key file>.new` (0600) before any record changes.
2. Records are re-encrypted one per transaction; each names its key, and the vault
   loads both keys while `.new` exists, so every record stays readable throughout.
3. Only when every record is under the new key does `.new` replace the key file
   (an atomic rename), and the old key is marked retired.
Running it again after a crash picks up the pending `.new` key and carries on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from fleet.errors import VaultError
from fleet.registry.models import VaultKeyRow, utcnow
from fleet.vault.keys import Keyring, key_id, new_key, read_key_file, rotation_path, write_key_file
from fleet.vault.store import Vault


@dataclass(frozen=True)
class RotationResult:
    old_key_id: str
    new_key_id: str
    reencrypted: int
    already_done: int
    resumed: bool


def rotate_key(vault: Vault, on_record: Callable[[int], None] | None = None) -> RotationResult:
    """Re-encrypt the vault under a fresh key and make it the key file's key."""
    ring: Keyring = vault.keyring
    if ring.from_env:
        raise VaultError(
            "the vault key comes from FLEET_VAULT_KEY; move it into the key file "
            f"({ring.key_file}, mode 0600) and unset the variable before rotating"
        )
    pending = rotation_path(ring.key_file)
    old_kid = key_id(read_key_file(ring.key_file))
    resumed = pending.exists()
    if resumed:
        fresh = read_key_file(pending)
    else:
        fresh = new_key()
        write_key_file(pending, fresh)
    new_kid = key_id(fresh)
    ring.keys[new_kid] = fresh
    with vault.registry.session() as s:
        if s.get(VaultKeyRow, new_kid) is None:
            s.add(VaultKeyRow(key_id=new_kid))
    done, skipped = vault.reencrypt(new_kid, on_record)
    os.replace(pending, ring.key_file)
    dir_fd = os.open(ring.key_file.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    ring.current = new_kid
    with vault.registry.session() as s:
        old = s.get(VaultKeyRow, old_kid)
        if old is not None and old_kid != new_kid:
            old.retired_at = utcnow()
    ring.keys.pop(old_kid, None) if old_kid != new_kid else None
    vault.registry.audit(
        "vault.rotate_key",
        detail={"old_key_id": old_kid, "new_key_id": new_kid, "records": done + skipped},
    )
    return RotationResult(old_kid, new_kid, done, skipped, resumed)
