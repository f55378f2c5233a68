"""`fleet campaigns list|show`: reboot campaigns and their reports."""

from __future__ import annotations

import typer
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.service.campaign_store import Campaign, CampaignStore

app = typer.Typer(no_args_is_help=True)


def print_report(c: Campaign) -> None:
    """The human report of one campaign: counts, then the nodes that need a technician."""
    d = c.details()
    counts = d["counts"]
    console.print(
        f"campaign {c.id} ({c.state}) {c.reason}: {len(c.targets)} nodes, "
        f"back {counts['back']}, silent {counts['silent']}, no answer {counts['no_answer']}, "
        f"refused {counts['refused']}, in progress {counts['in_progress']}",
        highlight=False,
    )
    for label, key in (("rebooted but silent", "silent"), ("never answered", "no_answer")):
        if d[key]:
            console.print(f"  {label}: {' '.join(d[key])}", highlight=False)
    for uid, code in d["refused"].items():
        console.print(f"  refused: {uid} ({code})", highlight=False)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Every reboot campaign, newest first."""
    with handle_errors(as_json):
        items = CampaignStore(state(ctx).context.registry).campaigns()
    if as_json:
        print_json([c.summary() for c in items])
        return
    table = Table("id", "state", "reason", "nodes", "back", "silent", "no answer", "refused")
    for c in items:
        n = c.report().counts()
        table.add_row(
            str(c.id),
            c.state,
            c.reason,
            str(len(c.targets)),
            str(n["back"]),
            str(n["silent"]),
            str(n["no_answer"]),
            str(n["refused"]),
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    campaign_id: int = typer.Argument(..., help="Campaign id."),
    as_json: bool = JSON_OPTION,
) -> None:
    """One campaign's report: which nodes came back, which did not and why."""
    with handle_errors(as_json):
        c = CampaignStore(state(ctx).context.registry).get(campaign_id)
    if as_json:
        print_json(c.details())
    else:
        print_report(c)
