"""Which nodes a simulation runs: generated ones, or the registry's, and who misbehaves."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fleet.errors import UsageError
from fleet.sim.node.firmware import NodeFaults, SimNode


def sim_hardware_id(index: int, tag: int = 0) -> str:
    """A stable hardware_id for generated node `index`: a locally administered MAC (02:...)."""
    if not 0 <= index < 2**32 or not 0 <= tag < 256:
        raise UsageError(f"simulated node index {index} / tag {tag} out of range")
    return f"esp32-02{tag:02x}{index:08x}"


def make_nodes(
    count: int,
    *,
    gh_uid: str = "gh-sim",
    zone_size: int = 100,
    node_type: str = "ph",
    fw_version: str = "2.0.0-sim",
    unbound: int = 0,
    tag: int = 0,
    secret_for: Callable[[str], str] | None = None,
) -> list[SimNode]:
    """`count` bound nodes `nd-sim-{i}` in zones of `zone_size`, then `unbound` unbound ones.

    Secrets: `secret_for(node_uid)` when given, else fresh random 64-hex strings (kept only
    in memory; read them from the returned nodes to register or command them).
    """
    if count < 0 or unbound < 0 or zone_size < 1:
        raise UsageError("node counts must be >= 0 and zone size >= 1")
    nodes: list[SimNode] = []
    for i in range(count):
        uid = f"nd-sim-{i}"
        nodes.append(
            SimNode(
                hardware_id=sim_hardware_id(i, tag),
                node_uid=uid,
                gh_uid=gh_uid,
                zone_uid=f"zn-sim-{i // zone_size}",
                node_type=node_type,
                fw_version=fw_version,
                secret=secret_for(uid) if secret_for else secrets.token_hex(32),
            )
        )
    for j in range(unbound):
        nodes.append(
            SimNode(
                hardware_id=sim_hardware_id(count + j, tag),
                node_type=node_type,
                fw_version=fw_version,
            )
        )
    return nodes


def nodes_from_registry(ctx: Any, gh: str | None = None, zone: str | None = None) -> list[SimNode]:
    """One simulated node per registered node, with its escrowed secret from the vault.

    `ctx` is a `fleet.context.FleetContext`. Nodes without a secret in the vault are
    simulated without one (they answer signed commands with `missing_node_secret`).
    """
    from fleet.errors import NotFound

    out: list[SimNode] = []
    for node in ctx.registry.list_nodes(gh=gh, zone=zone):
        try:
            secret: str | None = ctx.vault.node_secret(node.uid)
        except NotFound:
            secret = None
        out.append(
            SimNode(
                hardware_id=node.hardware_id,
                node_uid=node.uid,
                gh_uid=node.gh_uid or "gh-temp",
                zone_uid=node.zone_uid or "zn-temp",
                node_type=node.node_type or "ph",
                fw_version=node.fw_version or "2.0.0-sim",
                secret=secret,
            )
        )
    return out


@dataclass(frozen=True)
class FaultPlan:
    """How many nodes get each fault (disjoint sets, chosen with `seed`)."""

    drop: int = 0
    no_return: int = 0
    slow: int = 0
    slow_delay_s: float = 5.0
    skew: int = 0
    skew_s: float = 30.0
    seed: int = 1

    @property
    def total(self) -> int:
        return self.drop + self.no_return + self.slow + self.skew


def assign_faults(nodes: Sequence[SimNode], plan: FaultPlan) -> dict[str, list[str]]:
    """Give the nodes the faults of `plan`, in place; returns {fault: [node keys]}.

    Raises UsageError when the plan needs more nodes than there are.
    """
    if plan.total > len(nodes):
        raise UsageError(f"fault plan needs {plan.total} nodes, the simulation has {len(nodes)}")
    order = list(range(len(nodes)))
    random.Random(plan.seed).shuffle(order)
    picked: dict[str, list[str]] = {"drop": [], "no_return": [], "slow": [], "skew": []}
    pos = 0
    for name, count, faults in (
        ("drop", plan.drop, NodeFaults(drop_commands=True)),
        ("no_return", plan.no_return, NodeFaults(no_return_after_reboot=True)),
        ("slow", plan.slow, NodeFaults(slow_response_s=plan.slow_delay_s)),
        ("skew", plan.skew, NodeFaults(clock_skew_s=plan.skew_s)),
    ):
        for idx in order[pos : pos + count]:
            node = nodes[idx]
            node.faults = replace(faults)
            picked[name].append(node.key)
        pos += count
    return picked
