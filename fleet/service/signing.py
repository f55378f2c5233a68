"""Signed commands for registered nodes: exactly what would be published."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleet.context import FleetContext
from fleet.protocol import build_command, channel_topic


@dataclass(frozen=True)
class SignedCommand:
    node_uid: str
    topic: str
    payload: dict[str, Any]


def sign_for_node(
    ctx: FleetContext,
    uid: str,
    cmd: str,
    channel: str = "system",
    params: dict[str, Any] | None = None,
    cmd_id: str | None = None,
    ts: int | None = None,
) -> SignedCommand:
    """The topic and signed payload of `cmd` for node `uid` (secret from the vault)."""
    node = ctx.registry.get_node(uid)
    secret = ctx.vault.node_secret(uid)
    payload = build_command(secret, cmd, params, cmd_id=cmd_id, ts=ts)
    topic = channel_topic(node.gh_uid, node.zone_uid, node.uid, channel, "command")
    return SignedCommand(uid, topic, payload)
