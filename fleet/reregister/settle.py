"""Settling a node's secret after the backend answered, and rebuilding its NVS image.

Outcomes: `kept` (the vault already holds the backend's secret, or the backend sent none and
the vault has one), `adopted` (the backend's secret differs or the vault had none: it becomes
the vault's), `rotated` (no secret anywhere and rotation asked: a fresh CSPRNG one), `lost`
(no secret anywhere, no rotation: the node cannot be rebuilt yet). Any change is journaled
*before* the vault is written and audited after; the NVS image is then rebuilt from the
new secret. No secret ever enters a message, the journal or the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.context import FleetContext
from fleet.errors import FleetError
from fleet.nvs.escrow import build_for_node
from fleet.reregister.journal import ADOPTING, ROTATING, RegJournal
from fleet.vault.store import NODE_SECRET

KEPT, ADOPTED, ROTATED_SECRET, LOST = "kept", "adopted", "rotated", "lost"


@dataclass(frozen=True)
class Settled:
    """What happened to one node's secret and its NVS image (`nvs_error` when not rebuilt)."""

    secret: str
    nvs_rebuilt: bool = False
    nvs_error: str | None = None


def _rebuild(ctx: FleetContext, uid: str) -> tuple[bool, str | None]:
    try:
        build_for_node(ctx, uid)
    except FleetError as exc:
        return False, exc.message
    return True, None


def settle_secret(
    ctx: FleetContext,
    journal: RegJournal,
    uid: str,
    backend_secret: str | None,
    rotate_lost: bool,
    backend_url: str,
) -> Settled:
    """Make the vault hold the secret the node must carry; rebuild its NVS when it changed.

    Also rebuilds when the journal says an earlier run changed the secret and was cut short.
    """
    have = ctx.vault.node_secret(uid) if ctx.vault.has(NODE_SECRET, uid) else None
    unfinished = journal.secret_changing(uid)
    if backend_secret is not None and backend_secret != have:
        journal.append(ADOPTING, uid)
        ctx.vault.set_node_secret(uid, backend_secret)
        ctx.registry.audit(
            "reregister.secret_adopted",
            node_uid=uid,
            detail={"backend": backend_url, "vault_had_secret": have is not None},
        )
        return Settled(ADOPTED, *_rebuild(ctx, uid))
    if have is None and backend_secret is None:
        if not rotate_lost:
            return Settled(LOST)
        journal.append(ROTATING, uid)
        ctx.vault.set_node_secret(uid)
        ctx.registry.audit(
            "reregister.secret_rotated", node_uid=uid, detail={"reason": "secret lost"}
        )
        return Settled(ROTATED_SECRET, *_rebuild(ctx, uid))
    if unfinished:
        return Settled(KEPT, *_rebuild(ctx, uid))
    return Settled(KEPT)
