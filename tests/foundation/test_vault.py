"""The vault: round trip, wrong key, tampering, records moved between nodes, key rotation."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from sqlalchemy import select

from fleet.context import FleetContext
from fleet.errors import VaultError
from fleet.registry import NodeSpec
from fleet.registry.models import VaultRecordRow
from fleet.settings import Settings
from fleet.vault import rotate_key
from fleet.vault.keys import encode_key, new_key, rotation_path


def _add(ctx: FleetContext, uid: str) -> None:
    ctx.registry.add_node(NodeSpec(uid=uid, gh_uid="gh-1", zone_uid="zn-1"))
    ctx.vault.set_node_secret(uid)


def test_round_trip_and_fresh_nonce(ctx: FleetContext) -> None:
    """A secret comes back as stored; two records of the same plaintext differ."""
    ctx.vault.set_node_secret("nd-1", "ab" * 32)
    ctx.vault.set_node_secret("nd-2", "ab" * 32)
    assert ctx.vault.node_secret("nd-1") == "ab" * 32
    with ctx.registry.session() as s:
        rows = list(s.scalars(select(VaultRecordRow)))
    assert rows[0].nonce != rows[1].nonce
    assert rows[0].ciphertext != rows[1].ciphertext


def test_generated_secret_format(ctx: FleetContext) -> None:
    """Generated secrets are 64 lowercase hex characters, different per node."""
    _add(ctx, "nd-1")
    _add(ctx, "nd-2")
    a, b = ctx.vault.node_secret("nd-1"), ctx.vault.node_secret("nd-2")
    assert len(a) == 64 and a == a.lower() and int(a, 16) >= 0
    assert a != b


def test_wrong_key_is_a_clear_error(home: Path, ctx: FleetContext) -> None:
    """Opening with another key names the record and says the key does not match."""
    _add(ctx, "nd-1")
    other = Settings.load(home, environ={"FLEET_VAULT_KEY": encode_key(new_key())})
    other_ctx = FleetContext.open(settings=other)
    with pytest.raises(VaultError, match=r"node_secret of nd-1.*key"):
        other_ctx.vault.node_secret("nd-1")


def test_tampered_ciphertext_detected(ctx: FleetContext) -> None:
    """One flipped bit in a stored ciphertext makes the record refuse to open."""
    _add(ctx, "nd-1")
    with ctx.registry.session() as s:
        row = s.scalars(select(VaultRecordRow)).one()
        ct = bytearray(row.ciphertext)
        ct[3] ^= 0x01
        row.ciphertext = bytes(ct)
    with pytest.raises(VaultError, match="tampered"):
        ctx.vault.node_secret("nd-1")


def test_ciphertext_moved_to_another_node_fails(ctx: FleetContext) -> None:
    """Copying nd-1's ciphertext onto nd-2's row does not give nd-2 nd-1's secret."""
    _add(ctx, "nd-1")
    _add(ctx, "nd-2")
    with ctx.registry.session() as s:
        r1, r2 = s.scalars(select(VaultRecordRow).order_by(VaultRecordRow.id)).all()
        r2.nonce, r2.ciphertext = r1.nonce, r1.ciphertext
    assert len(ctx.vault.node_secret("nd-1")) == 64
    with pytest.raises(VaultError, match="nd-2"):
        ctx.vault.node_secret("nd-2")


def test_key_file_mode_enforced(home: Path) -> None:
    """A key file readable by others is refused, naming the file and the fix."""
    key = home / "vault.key"
    assert key.stat().st_mode & 0o777 == 0o600
    os.chmod(key, 0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        FleetContext.open(settings=Settings.load(home, environ={}))


class Crash(Exception):
    pass


def test_rotation_interrupted_then_resumed(home: Path, ctx: FleetContext) -> None:
    """A crash at a random record leaves every record readable; re-running finishes."""
    for i in range(12):
        _add(ctx, f"nd-{i}")
    before = {f"nd-{i}": ctx.vault.node_secret(f"nd-{i}") for i in range(12)}
    ids = ctx.vault.record_ids()
    stop_at = random.choice(ids[1:-1])

    def boom(rid: int) -> None:
        if rid == stop_at:
            raise Crash

    with pytest.raises(Crash):
        rotate_key(ctx.vault, on_record=boom)
    assert rotation_path(home / "vault.key").exists()
    # A new process sees both keys and reads every record.
    mid = FleetContext.open(settings=Settings.load(home, environ={}))
    with mid.registry.session() as s:
        key_ids = {r.key_id for r in s.scalars(select(VaultRecordRow))}
    assert len(key_ids) == 2
    assert before == {u: mid.vault.node_secret(u) for u in before}
    result = rotate_key(mid.vault)
    assert result.resumed
    assert not rotation_path(home / "vault.key").exists()
    after = FleetContext.open(settings=Settings.load(home, environ={}))
    assert before == {u: after.vault.node_secret(u) for u in before}
    with after.registry.session() as s:
        assert {result.new_key_id} == {r.key_id for r in s.scalars(select(VaultRecordRow))}
    assert result.new_key_id == after.vault.keyring.current
