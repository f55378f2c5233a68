"""`fleet status`: newest backup, WAL, retention, last drill, what the backups cover."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.recovery.status import site_status

app = typer.Typer()

_MARK = {True: "[green]ok[/]", False: "[bold red]PROBLEM[/]", None: "[dim]n/a[/]"}


@app.command("status")
def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The recovery checklist as live facts (exit 1 when any fact is a problem)."""
    with handle_errors(as_json):
        result = site_status(state(ctx).settings)
    if as_json:
        print_json({"ok": result.ok, "facts": result.facts})
    else:
        table = Table(title="site recovery status")
        for col in ("fact", "", "value"):
            table.add_column(col)
        for fact in result.facts:
            table.add_row(fact.name, _MARK[fact.ok], escape(fact.value))
        console.print(table)
    if not result.ok:
        raise typer.Exit(1)
