"""Vault reads and writes in bulk, for `build_all` (one query / one transaction per batch).

The per-record `Vault.get` / `Vault.put` cost a query and a commit each; a rebuild of
every node's image would spend most of its time there. These helpers use the vault's
own sealing functions (`seal`, `open_sealed`) and record model, so records are exactly
what `Vault.put` writes and `Vault.get` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from fleet.context import FleetContext
from fleet.registry.models import VaultRecordRow
from fleet.vault.store import open_sealed, seal


def read_newest(ctx: FleetContext, kind: str) -> dict[str, bytes]:
    """Plaintext of the newest record of `kind` for every subject, in one query."""
    newest = (
        select(func.max(VaultRecordRow.id))
        .where(VaultRecordRow.kind == kind)
        .group_by(VaultRecordRow.subject)
    )
    out: dict[str, bytes] = {}
    with ctx.registry.session() as s:
        rows = list(s.scalars(select(VaultRecordRow).where(VaultRecordRow.id.in_(newest))))
    for row in rows:
        where = f"vault record {row.id} ({row.kind} of {row.subject})"
        key = ctx.vault.keyring.get(row.key_id, where)
        out[row.subject] = open_sealed(key, row.kind, row.subject, row.nonce, row.ciphertext, where)
    return out


def put_many(
    ctx: FleetContext, records: Sequence[tuple[str, str, bytes, dict[str, Any] | None]]
) -> list[int]:
    """Store (kind, subject, plaintext, meta) records in one transaction; their new ids."""
    kid = ctx.vault.keyring.current
    key = ctx.vault.keyring.keys[kid]
    rows = []
    for kind, subject, plaintext, meta in records:
        nonce, ct = seal(key, kind, subject, plaintext)
        rows.append(
            VaultRecordRow(
                kind=kind, subject=subject, key_id=kid, nonce=nonce, ciphertext=ct, meta=meta
            )
        )
    with ctx.registry.session() as s:
        s.add_all(rows)
        s.flush()
        return [row.id for row in rows]
