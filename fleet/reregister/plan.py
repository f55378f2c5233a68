"""The station queue and the plan of a re-registration run (what `--plan` shows)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from fleet.context import FleetContext
from fleet.nvs.escrow import IMAGE_KIND
from fleet.registry.node import Node
from fleet.reregister.journal import RegJournal, journal_path
from fleet.reregister.pacing import safe_rate
from fleet.reregister.settings import BackendSettings
from fleet.vault.store import NODE_SECRET


@dataclass(frozen=True)
class StationEntry:
    """One node in the station queue; `ready` when its secret and NVS image are escrowed."""

    uid: str
    mac: str | None
    hardware_id: str | None
    node_type: str
    ready: bool
    note: str | None = None


@dataclass
class ReregisterPlan:
    """What a run would do: nodes to register, already done, the ETA set by the per-IP limit.

    `floor_windows` is how many limit windows (minutes upstream) the per-IP limit needs at
    best; `eta_seconds` is what our pacing takes.
    """

    backend: str
    journal: Path
    nodes: int
    already: int
    todo: int
    eta_seconds: float
    floor_windows: int
    per_ip_per_min: int
    window_seconds: float
    secrets_missing: list[str]
    station_queue: dict[str, list[StationEntry]]


def _natural(uid: str) -> list[object]:
    """Sort key putting nd-ph-2 before nd-ph-10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", uid)]


def station_queue(
    ctx: FleetContext, nodes: list[Node], planning: bool = False
) -> dict[str, list[StationEntry]]:
    """Every node of `nodes` for the recovery station, grouped by chip, in uid order.

    `planning`: notes say what the run will do (build missing images, adopt secrets).
    """
    with_secret = {i.subject for i in ctx.vault.history(NODE_SECRET)}
    with_image = {i.subject for i in ctx.vault.history(IMAGE_KIND)}
    queue: dict[str, list[StationEntry]] = {}
    for node in sorted(nodes, key=lambda n: _natural(n.uid)):
        note = None
        if node.uid not in with_secret:
            note = (
                "no secret in the vault: adopted from the backend, else --rotate-lost-secrets"
                if planning
                else "secret lost: run again with --rotate-lost-secrets"
            )
        elif node.uid not in with_image:
            note = (
                "NVS image built by the run"
                if planning
                else "no NVS image escrowed (see `fleet nvs build`)"
            )
        entry = StationEntry(
            node.uid, node.mac, node.hardware_id, node.node_type, note is None, note
        )
        queue.setdefault(node.chip, []).append(entry)
    return dict(sorted(queue.items()))


def plan_reregister(ctx: FleetContext, cfg: BackendSettings) -> ReregisterPlan:
    """What `reregister` would do now (no request is sent)."""
    assert cfg.url is not None
    nodes = ctx.registry.list_nodes()
    path = journal_path(ctx.home, cfg.url)
    journal = RegJournal.open(path) if path.exists() else RegJournal(path)
    todo = [n for n in nodes if not journal.done(n.uid)]
    with_secret = {i.subject for i in ctx.vault.history(NODE_SECRET)}
    eta = len(todo) / safe_rate(cfg.per_ip_per_min, cfg.window_seconds, cfg.pacing_slack)
    return ReregisterPlan(
        backend=cfg.url,
        journal=path,
        nodes=len(nodes),
        already=len(nodes) - len(todo),
        todo=len(todo),
        eta_seconds=eta,
        floor_windows=math.ceil(len(todo) / cfg.per_ip_per_min),
        per_ip_per_min=cfg.per_ip_per_min,
        window_seconds=cfg.window_seconds,
        secrets_missing=sorted(n.uid for n in nodes if n.uid not in with_secret),
        station_queue=station_queue(ctx, nodes, planning=True),
    )
