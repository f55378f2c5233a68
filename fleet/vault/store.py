"""The vault: AES-256-GCM records in the registry database.

Each record has a fresh 96-bit nonce and associated data binding it to its kind and
subject (`fleet.vault.v1 \\0 kind \\0 subject`), so a ciphertext copied onto another
node's row fails to decrypt. Records name the key that encrypted them (`key_id`), which
is what lets a key rotation be interrupted at any record and resumed.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select

from fleet.errors import NotFound, VaultError
from fleet.protocol.ids import check_secret
from fleet.registry.models import VaultKeyRow, VaultRecordRow
from fleet.registry.repo import Registry
from fleet.vault.keys import Keyring

NODE_SECRET = "node_secret"


def associated_data(kind: str, subject: str) -> bytes:
    """What binds a ciphertext to its record's kind and subject."""
    return b"fleet.vault.v1\0" + kind.encode() + b"\0" + subject.encode()


def seal(key: bytes, kind: str, subject: str, plaintext: bytes) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) of `plaintext` for `kind`/`subject` under `key`."""
    nonce = os.urandom(12)
    return nonce, AESGCM(key).encrypt(nonce, plaintext, associated_data(kind, subject))


def open_sealed(
    key: bytes, kind: str, subject: str, nonce: bytes, ciphertext: bytes, where: str
) -> bytes:
    """The plaintext, or a VaultError naming `where` when the record does not open."""
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, associated_data(kind, subject))
    except InvalidTag:
        raise VaultError(
            f"{where} does not decrypt: it was tampered with, belongs to another record, "
            "or the key is wrong"
        ) from None


@dataclass(frozen=True)
class VaultRecordInfo:
    id: int
    kind: str
    subject: str
    key_id: str
    created_at: dt.datetime
    meta: dict[str, Any] | None


class Vault:
    """Encrypted records of secrets, NVS images and keys, one kind + subject each."""

    def __init__(self, registry: Registry, keyring: Keyring) -> None:
        self.registry = registry
        self.keyring = keyring
        self._ensure_key_row(keyring.current)

    def _ensure_key_row(self, kid: str) -> None:
        with self.registry.session() as s:
            if s.get(VaultKeyRow, kid) is None:
                s.add(VaultKeyRow(key_id=kid))

    @staticmethod
    def _where(row: VaultRecordRow) -> str:
        return f"vault record {row.id} ({row.kind} of {row.subject})"

    def _open(self, row: VaultRecordRow) -> bytes:
        where = self._where(row)
        key = self.keyring.get(row.key_id, where)
        return open_sealed(key, row.kind, row.subject, row.nonce, row.ciphertext, where)

    def put(
        self, kind: str, subject: str, plaintext: bytes, meta: dict[str, Any] | None = None
    ) -> int:
        """Store a new record; older records of the same kind/subject stay as history."""
        key = self.keyring.keys[self.keyring.current]
        nonce, ct = seal(key, kind, subject, plaintext)
        with self.registry.session() as s:
            row = VaultRecordRow(
                kind=kind,
                subject=subject,
                key_id=self.keyring.current,
                nonce=nonce,
                ciphertext=ct,
                meta=meta,
            )
            s.add(row)
            s.flush()
            return row.id

    def _newest(self, kind: str, subject: str) -> VaultRecordRow | None:
        with self.registry.session() as s:
            return s.scalar(
                select(VaultRecordRow)
                .where(VaultRecordRow.kind == kind, VaultRecordRow.subject == subject)
                .order_by(VaultRecordRow.id.desc())
                .limit(1)
            )

    def put_many(
        self, records: Sequence[tuple[str, str, bytes, dict[str, Any] | None]]
    ) -> list[int]:
        """Store (kind, subject, plaintext, meta) records in one transaction; their new ids."""
        kid = self.keyring.current
        key = self.keyring.keys[kid]
        rows = []
        for kind, subject, plaintext, meta in records:
            nonce, ct = seal(key, kind, subject, plaintext)
            rows.append(
                VaultRecordRow(
                    kind=kind, subject=subject, key_id=kid, nonce=nonce, ciphertext=ct, meta=meta
                )
            )
        with self.registry.session() as s:
            s.add_all(rows)
            s.flush()
            return [row.id for row in rows]

    def newest_of_kind(self, kind: str) -> dict[str, bytes]:
        """Plaintext of the newest record of `kind` for every subject, in one query."""
        newest = (
            select(func.max(VaultRecordRow.id))
            .where(VaultRecordRow.kind == kind)
            .group_by(VaultRecordRow.subject)
        )
        with self.registry.session() as s:
            rows = list(s.scalars(select(VaultRecordRow).where(VaultRecordRow.id.in_(newest))))
        return {row.subject: self._open(row) for row in rows}

    def has(self, kind: str, subject: str) -> bool:
        """True when a record of this kind and subject exists."""
        return self._newest(kind, subject) is not None

    def get(self, kind: str, subject: str) -> bytes:
        """The newest record's plaintext, or NotFound."""
        row = self._newest(kind, subject)
        if row is None:
            raise NotFound(f"the vault holds no {kind} for {subject}", subject=subject)
        return self._open(row)

    def get_record(self, record_id: int) -> bytes:
        """One record's plaintext by id."""
        with self.registry.session() as s:
            row = s.get(VaultRecordRow, record_id)
        if row is None:
            raise NotFound(f"vault record {record_id} does not exist")
        return self._open(row)

    def history(self, kind: str, subject: str | None = None) -> list[VaultRecordInfo]:
        """Records of `kind` (and `subject`), newest first, without their plaintext."""
        with self.registry.session() as s:
            q = select(VaultRecordRow).where(VaultRecordRow.kind == kind)
            if subject is not None:
                q = q.where(VaultRecordRow.subject == subject)
            rows = list(s.scalars(q.order_by(VaultRecordRow.id.desc())))
        return [
            VaultRecordInfo(r.id, r.kind, r.subject, r.key_id, r.created_at, r.meta) for r in rows
        ]

    def delete(self, record_id: int) -> None:
        """Remove one record (history pruning)."""
        with self.registry.session() as s:
            row = s.get(VaultRecordRow, record_id)
            if row is not None:
                s.delete(row)

    # -- node secrets --------------------------------------------------------------

    def set_node_secret(self, uid: str, secret: str | None = None) -> None:
        """Store `uid`'s node_secret (a fresh CSPRNG one when not given)."""
        value = check_secret(secret) if secret else secrets.token_hex(32)
        self.put(NODE_SECRET, uid, value.encode("ascii"))

    def node_secret(self, uid: str) -> str:
        """`uid`'s node_secret, 64 lowercase hex characters."""
        return self.get(NODE_SECRET, uid).decode("ascii")

    # -- rotation ------------------------------------------------------------------

    def record_ids(self) -> list[int]:
        with self.registry.session() as s:
            return list(s.scalars(select(VaultRecordRow.id).order_by(VaultRecordRow.id)))

    def reencrypt(
        self, new_kid: str, on_record: Callable[[int], None] | None = None
    ) -> tuple[int, int]:
        """Re-encrypt every record not yet under `new_kid`, one transaction per record.

        Returns (re-encrypted, already under the new key). `on_record` is called before
        each record (tests use it to simulate a crash at a chosen record).
        """
        new_key = self.keyring.get(new_kid, "rotation target")
        done = skipped = 0
        for rid in self.record_ids():
            if on_record is not None:
                on_record(rid)
            with self.registry.session() as s:
                row = s.get(VaultRecordRow, rid)
                if row is None:
                    continue
                if row.key_id == new_kid:
                    skipped += 1
                    continue
                plain = self._open(row)
                row.nonce, row.ciphertext = seal(new_key, row.kind, row.subject, plain)
                row.key_id = new_kid
                done += 1
        return done, skipped
