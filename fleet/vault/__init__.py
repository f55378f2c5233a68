"""The secret vault: AES-256-GCM records bound to kind and subject, rotatable key."""

from fleet.vault.keys import Keyring
from fleet.vault.rotate import RotationResult, rotate_key
from fleet.vault.store import NODE_SECRET, Vault, VaultRecordInfo

__all__ = ["NODE_SECRET", "Keyring", "RotationResult", "Vault", "VaultRecordInfo", "rotate_key"]
