"""What one node's registration request says, and the node_secret its answer carries.

Plain mode (`node_uid` required) is used whenever we know the node's uid, which is every
registered node; hello mode (`message_type: node_hello`, `hardware_id` required,
`provisioning_meta.node_uid`) when settings ask for it and the node has a hardware_id.
The rate-limit identity is the hardware_id, else the uid (as upstream keys its limiter).
"""

from __future__ import annotations

from typing import Any

from fleet.errors import ValidationError
from fleet.protocol.ids import check_secret
from fleet.registry.node import Node


def registration_body(node: Node, mode: str = "auto") -> tuple[str, dict[str, Any]]:
    """(rate-limit identity, JSON body) registering `node`; `mode` is auto, plain or hello."""
    identity = node.hardware_id or node.uid
    if mode == "hello" and node.hardware_id:
        body: dict[str, Any] = {
            "message_type": "node_hello",
            "hardware_id": node.hardware_id,
            "node_type": node.node_type,
            "fw_version": node.fw_version,
            "capabilities": [],
            "provisioning_meta": {
                "node_uid": node.uid,
                "gh_uid": node.gh_uid,
                "zone_uid": node.zone_uid,
            },
        }
    else:
        body = {
            "node_uid": node.uid,
            "hardware_id": node.hardware_id,
            "firmware_version": node.fw_version,
            "type": node.node_type,
            "name": node.name,
        }
    return identity, {k: v for k, v in body.items() if v is not None}


def answer_secret(data: dict[str, Any] | None) -> str | None:
    """The node_secret in a 2xx answer's `data` (top level or inside `config`), or None.

    A value that is not 64 lowercase hex raises ValidationError without the value.
    """
    if not data:
        return None
    value = data.get("node_secret")
    config = data.get("config")
    if value is None and isinstance(config, dict):
        value = config.get("node_secret")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError("the backend's node_secret is not a string")
    return check_secret(value)


def answer_uid(data: dict[str, Any] | None) -> str | None:
    """The node uid the backend answered with (`uid` or `node_uid`), or None."""
    if not data:
        return None
    value = data.get("uid") or data.get("node_uid")
    return str(value) if value else None
