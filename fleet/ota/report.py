"""What an OTA run reports: one result per node, counts per outcome, and the audit of
nodes that were not sent to."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.context import FleetContext
from fleet.ota.plan import OtaPlan
from fleet.ota.policy import Outcome


@dataclass(frozen=True)
class NodeResult:
    """How one node's update ended, as `fleet ota --json` prints it."""

    node_uid: str
    outcome: str
    firmware_id: str | None
    old_version: str | None
    target_version: str | None
    new_version: str | None  # what the node reported when it came back (None: unseen)
    detail: str
    downloads: int = 0


@dataclass
class OtaReport:
    """Every node of a run with its outcome."""

    nodes: list[NodeResult]

    @property
    def counts(self) -> dict[str, int]:
        """Nodes per outcome."""
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.outcome] = out.get(n.outcome, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        """True when every node ended on the wanted version."""
        return all(Outcome(n.outcome).ok for n in self.nodes)


def plan_results(plan: OtaPlan) -> list[NodeResult]:
    """Results of the nodes a plan does not send to (refused, already up to date)."""
    out = [
        NodeResult(uid, Outcome.REFUSED.value, None, None, None, None, why)
        for uid, why in plan.refused.items()
    ]
    out += [
        NodeResult(uid, Outcome.UP_TO_DATE.value, None, ver, ver, ver, f"already runs {ver}")
        for uid, ver in plan.up_to_date.items()
    ]
    return out


def audit_plan(ctx: FleetContext, plan: OtaPlan) -> None:
    """One audit record per refused or up-to-date node."""
    ctx.registry.audit_many(
        {
            "action": "ota.update",
            "node_uid": r.node_uid,
            "outcome": "refused" if r.outcome == Outcome.REFUSED else "ok",
            "detail": {"outcome": r.outcome, "detail": r.detail},
        }
        for r in plan_results(plan)
    )
