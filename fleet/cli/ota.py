"""`fleet ota`: over-the-air firmware updates over MQTT, each followed until the node is
back ONLINE with the new version."""

from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import BrokerError, ValidationError
from fleet.ota.plan import OtaPlan
from fleet.ota.policy import NodeOta, Outcome
from fleet.ota.report import OtaReport
from fleet.ota.run import update_nodes

app = typer.Typer()

_STYLE = {"done": "green", "up_to_date": "green", "refused": "yellow", "not_sent": "yellow"}


def exit_code(report: OtaReport) -> int:
    """0 when every node ended on the new version; a refusal exits like a ValidationError,
    any other failure like a BrokerError (temporary: try again or go to the station)."""
    outcomes = {n.outcome for n in report.nodes}
    if outcomes <= {Outcome.DONE.value, Outcome.UP_TO_DATE.value}:
        return 0
    if Outcome.REFUSED.value in outcomes:
        return ValidationError.exit_code
    return BrokerError.exit_code


def _print(report: OtaReport) -> None:
    table = Table(title="OTA update")
    for col in ("node", "outcome", "firmware", "was", "target", "runs now", "detail"):
        table.add_column(col, no_wrap=col in ("node", "outcome", "firmware"))
    for n in report.nodes:
        style = _STYLE.get(n.outcome, "red")
        table.add_row(
            n.node_uid,
            f"[{style}]{n.outcome}[/]",
            n.firmware_id or "-",
            n.old_version or "-",
            n.target_version or "-",
            n.new_version or "-",
            n.detail,
        )
    console.print(table)
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(report.counts.items())))


@app.command("ota")
def ota(
    ctx: typer.Context,
    uids: list[str] = typer.Argument(None, help="Node uids (or use --zone / --node-type)."),
    zone: str = typer.Option(None, "--zone", help="Every node of this zone."),
    node_type: str = typer.Option(None, "--node-type", help="Every node of this type."),
    firmware: str = typer.Option(
        None, "--firmware", help="Firmware id (default: each node's assigned firmware)."
    ),
    rate: float = typer.Option(
        None, "--rate", help="Nodes per second (default: setting ota.rate)."
    ),
    ttl: float = typer.Option(
        None, "--ttl", help="Seconds a download URL stays valid (default: setting ota.ttl)."
    ),
    force: bool = typer.Option(False, "--force", help="Also nodes already on that version."),
    skip_refused: bool = typer.Option(
        False, "--skip-refused", help="Update the other nodes when some are refused."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Update firmware over MQTT; DONE only when a node is back ONLINE on the new version.

    Refuses (before anything is sent) a node whose firmware is for another chip or whose
    partition table has no otadata + ota_0/ota_1 slots.
    """
    overrides = {"rate": rate, "ttl": ttl}
    with handle_errors(as_json):
        fctx = state(ctx).context
        bar = Progress(
            TextColumn("ota"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            transient=True,
            disable=as_json,
        )
        with bar:
            task = bar.add_task("planning", total=None)
            trackers: dict[str, NodeOta] = {}

            def planned(plan: OtaPlan) -> None:
                bar.update(task, total=len(plan.targets), description="sending")

            def changed(t: NodeOta) -> None:
                trackers[t.node_uid] = t
                done = sum(1 for x in trackers.values() if x.finished)
                sent = sum(1 for x in trackers.values() if x.sent_at is not None)
                bar.update(task, completed=done, description=f"sent {sent}, finished {done}")

            report = asyncio.run(
                update_nodes(
                    fctx,
                    uids or (),
                    zone,
                    node_type,
                    firmware_id=firmware,
                    force=force,
                    skip_refused=skip_refused,
                    overrides=overrides,
                    on_plan=planned,
                    on_change=changed,
                )
            )
    if as_json:
        print_json({"ok": report.ok, "counts": report.counts, "nodes": report.nodes})
    else:
        _print(report)
    raise typer.Exit(exit_code(report))
