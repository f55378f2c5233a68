"""The whole-site recovery plan (pure): which steps, in which order, doing what.

The order is the seed's: infrastructure (compose file, Docker volumes) -> PostgreSQL ->
Laravel -> Python service -> Mosquitto -> reboot campaign in the running `fleet serve` ->
the list of nodes that need the recovery station. Fleet's own data (registry, vault, NVS
escrow, firmware store) comes first: the reboot campaign and the station need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LAYER, REBOOT, STATION = "layer", "reboot", "station"


@dataclass(frozen=True)
class StepSpec:
    """A step of the seed's order: its name, kind, the layer it restores and a title."""

    name: str
    kind: str
    layer: str | None
    title: str


ORDER: tuple[StepSpec, ...] = (
    StepSpec("fleet", LAYER, "fleet", "fleet data: registry, vault, NVS escrow, firmware"),
    StepSpec("infrastructure", LAYER, "docker", "infrastructure: compose file, Docker volumes"),
    StepSpec("postgres", LAYER, "postgres", "PostgreSQL: roles, then every database"),
    StepSpec("laravel", LAYER, "laravel", "Laravel: .env, OTA files, public storage"),
    StepSpec("python_service", LAYER, "python_service", "Python service: .env, secrets, config"),
    StepSpec("mosquitto", LAYER, "mosquitto", "Mosquitto: config, passwd, ACL"),
    StepSpec("reboot", REBOOT, None, "reboot campaign in the running `fleet serve`"),
    StepSpec("station", STATION, None, "nodes that need the recovery station"),
)


@dataclass(frozen=True)
class PlannedStep:
    """One step as planned for a snapshot: `skip` says why it will not run (None: it runs)."""

    name: str
    kind: str
    layer: str | None
    title: str
    action: str
    commands: tuple[str, ...] = ()
    skip: str | None = None


def step_names() -> list[str]:
    """Every step name, in order."""
    return [s.name for s in ORDER]


def _layer_action(spec: StepSpec, pg_where: str | None) -> str:
    if spec.layer == "postgres":
        return f"into {pg_where}; a database already there is renamed aside, never dropped"
    if spec.layer == "fleet":
        return "put back what is missing from the data directory (existing files are kept)"
    return "put every captured path back in place; differing content is moved aside first"


def build_plan(
    layers: Mapping[str, str],
    post_restore: Mapping[str, Sequence[str]],
    pg_where: str | None,
) -> list[PlannedStep]:
    """The plan for a snapshot whose manifest has `layers` ({layer: "ok"|"failed"}).

    A layer absent from the snapshot, failed in it, or (PostgreSQL) without a configured
    target (`pg_where`: `host:port` of `[layers.postgres] dsn`) is planned as skipped with the
    reason. `post_restore` commands of a layer go
    with its step.
    """
    plan = []
    for spec in ORDER:
        skip: str | None = None
        action = ""
        commands: tuple[str, ...] = ()
        if spec.kind == LAYER:
            assert spec.layer is not None
            status = layers.get(spec.layer)
            commands = tuple(post_restore.get(spec.layer, ()))
            if status is None:
                skip = f"layer {spec.layer} is not in the snapshot"
            elif status != "ok":
                skip = f"layer {spec.layer} failed in the snapshot"
            elif spec.layer == "postgres" and not pg_where:
                skip = "no [layers.postgres] dsn to restore into"
            action = _layer_action(spec, pg_where)
        elif spec.kind == REBOOT:
            action = "signed reboot of every node, paced, after the broker's grace period"
        else:
            action = "list the nodes not ONLINE (and those the campaign did not bring back)"
        plan.append(
            PlannedStep(spec.name, spec.kind, spec.layer, spec.title, action, commands, skip)
        )
    return plan
