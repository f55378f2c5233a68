"""Planning an OTA run: which nodes, which firmware each gets, and who is refused.

Everything here happens before a single byte goes to the broker: a node whose firmware
is for another chip, whose partition table has no OTA slots (the hydro 2.0 factory-only
layout), or whose node_secret is not in the vault is refused here, named, with why.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleet.context import FleetContext
from fleet.errors import NotFound, UsageError
from fleet.firmware.store import FILE_NAMES, FirmwareEntry, FirmwareStore
from fleet.firmware.validate import FirmwareBundle
from fleet.ota.policy import check_target
from fleet.registry.node import Node


@dataclass(frozen=True)
class OtaTarget:
    """One node that will get an OTA command."""

    node: Node
    firmware: FirmwareEntry
    app_path: Path
    checksum_sha256: str
    request_id: str


@dataclass
class OtaPlan:
    """The nodes of a run: to update, refused (uid -> why), already up to date (uid -> ver)."""

    targets: list[OtaTarget] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    up_to_date: dict[str, str] = field(default_factory=dict)


def select_nodes(
    ctx: FleetContext,
    uids: Sequence[str] = (),
    zone: str | None = None,
    node_type: str | None = None,
) -> list[Node]:
    """The nodes named by uid, or those of a zone and/or node type (sorted by uid).

    UsageError when nothing selects nodes or a selection is empty; NodeNotFound for an
    unknown uid.
    """
    if uids and (zone or node_type):
        raise UsageError("name nodes by uid, or select them with --zone/--node-type, not both")
    if uids:
        return [ctx.registry.get_node(uid) for uid in dict.fromkeys(uids)]
    if not zone and not node_type:
        raise UsageError("no nodes selected: give node uids, --zone or --node-type")
    nodes = [
        n
        for n in ctx.registry.list_nodes(zone=zone)
        if node_type is None or n.node_type == node_type
    ]
    if not nodes:
        what = " and ".join(
            x
            for x in (f"zone {zone}" if zone else "", f"type {node_type}" if node_type else "")
            if x
        )
        raise NotFound(f"no registered nodes in {what}")
    return sorted(nodes, key=lambda n: n.uid)


def plan_ota(
    ctx: FleetContext, nodes: Sequence[Node], firmware_id: str | None = None, force: bool = False
) -> OtaPlan:
    """Resolve each node's firmware (given, else assigned) and check it can go over the air.

    A node already reporting the firmware's version is `up_to_date` unless `force`. The
    stored bundle is re-read and checked (CorruptData when it changed since import).
    """
    store = FirmwareStore(ctx.registry, ctx.home)
    given = store.get(firmware_id) if firmware_id else None
    bundles: dict[str, FirmwareBundle] = {}
    plan = OtaPlan()
    for node in nodes:
        try:
            entry = given or store.resolve(node)
        except NotFound as exc:
            plan.refused[node.uid] = exc.message
            continue
        if entry.id not in bundles:
            bundles[entry.id] = store.load(entry.id)[1]
        bundle = bundles[entry.id]
        app = bundle.file("app")
        assert app is not None  # a validated bundle always has its app
        why = check_target(node.uid, node.chip, entry.chip, bundle.partition_table, len(app.data))
        if why is None and not _has_secret(ctx, node.uid):
            why = f"node {node.uid} has no node_secret in the vault: the command cannot be signed"
        if why is not None:
            plan.refused[node.uid] = why
        elif node.fw_version == entry.version and not force:
            plan.up_to_date[node.uid] = entry.version
        else:
            plan.targets.append(
                OtaTarget(
                    node=node,
                    firmware=entry,
                    app_path=store.path(entry.id) / FILE_NAMES["app"],
                    checksum_sha256=bundle.app_sha256,
                    request_id=f"ota-{uuid.uuid4().hex[:16]}",
                )
            )
    return plan


def _has_secret(ctx: FleetContext, uid: str) -> bool:
    try:
        ctx.vault.node_secret(uid)
    except NotFound:
        return False
    return True
