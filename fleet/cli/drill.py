"""`fleet drill [SNAPSHOT]`: restore a snapshot into scratch space, check it, measure RTO/RPO."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import CorruptData, FleetError
from fleet.recovery.drill import DrillReport, run_drill

app = typer.Typer()

SEED_TARGET_S = 30 * 60


def print_drill(report: DrillReport) -> None:
    """The drill's checks as a table, then RTO and RPO next to the seed's targets."""
    table = Table(title=f"drill of snapshot {report.snapshot} (taken {report.snapshot_taken_at})")
    for col in ("check", "result", "detail"):
        table.add_column(col)
    for c in report.checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAILED[/]", c.detail)
    console.print(table)
    per_layer = ", ".join(f"{k} {v:.1f} s" for k, v in report.layers.items())
    console.print(
        f"RTO {report.rto_seconds:.1f} s (seed target {SEED_TARGET_S // 60} min): {per_layer}",
        highlight=False,
    )
    rpo = "unknown" if report.rpo_seconds is None else f"{report.rpo_seconds:.0f} s"
    console.print(f"RPO {rpo} ({report.rpo_basis}; seed target 15 min)", highlight=False)
    verdict = "[green]drill passed[/]" if report.ok else "[bold red]drill FAILED[/]"
    console.print(f"{verdict}; recorded in {report.record}")


@app.command("drill")
def drill(
    ctx: typer.Context,
    snapshot: str = typer.Argument("latest", help="Snapshot id (default: the newest)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Prove a snapshot restores: scratch restore, health checks, measured RTO and RPO."""
    with handle_errors(as_json):
        cli = state(ctx)
        try:
            target: Any = cli.context  # with a registry, the drill leaves an audit record
        except FleetError:
            target = cli.settings
        if as_json:
            report = run_drill(target, snapshot)
        else:
            with console.status("drill: starting") as status:
                report = run_drill(
                    target, snapshot, progress=lambda msg: status.update(f"drill: {msg}")
                )
    if as_json:
        print_json(report)
    else:
        print_drill(report)
    if not report.ok:
        raise typer.Exit(CorruptData.exit_code)
