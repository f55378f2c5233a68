"""`fleet reboot`: a paced, signed reboot campaign (through `fleet serve` when it runs)."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fleet.cli._common import JSON_OPTION, handle_errors, print_json, state
from fleet.cli.campaigns import print_report
from fleet.service.campaign_store import Campaign
from fleet.service.client import start_reboot

app = typer.Typer()


@app.command("reboot")
def reboot(
    ctx: typer.Context,
    uids: list[str] = typer.Argument(None, help="Node uids (or use --all / --zone)."),
    all_: bool = typer.Option(False, "--all", help="Every registered node."),
    zone: str = typer.Option(None, "--zone", help="Every node of this zone."),
    rate: float = typer.Option(None, "--rate", help="Nodes per second (default: settings)."),
    after_restore: bool = typer.Option(
        False, "--after-restore", help="Tell the service the broker was restored (grace first)."
    ),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return once the campaign is started."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Reboot nodes in paced waves and report which came back, stayed silent or refused."""
    request = {"uids": uids or None, "all": all_, "zone": zone, "rate": rate}
    request["after_restore"] = after_restore
    with handle_errors(as_json):
        fctx = state(ctx).context
        if as_json or no_wait:
            c = start_reboot(fctx, request, wait=not no_wait)
        else:
            with Progress(
                TextColumn("campaign"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                transient=True,
            ) as bar:
                task = bar.add_task("starting", total=None)

                def show(c: Campaign) -> None:
                    n = c.report().counts()
                    done = len(c.targets) - n["in_progress"]
                    bar.update(
                        task,
                        total=len(c.targets),
                        completed=done,
                        description=f"{c.state}: back {n['back']}",
                    )

                c = start_reboot(fctx, request, on_progress=show)
    if as_json:
        print_json(c.details())
    else:
        print_report(c)
