"""`fleet audit`: the append-only record of every change."""

from __future__ import annotations

import typer
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state

app = typer.Typer()


@app.command("audit")
def audit(
    ctx: typer.Context,
    node: str = typer.Option(None, "--node", help="Only records of this node."),
    action: str = typer.Option(None, "--action", help="Only actions starting with this."),
    limit: int = typer.Option(50, "--limit", help="How many records (newest first)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Who did what, when, to which node, and how it ended."""
    with handle_errors(as_json):
        rows = state(ctx).context.registry.audit_log(node_uid=node, action=action, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("when", "actor", "action", "node", "outcome", "detail")
    for r in rows:
        table.add_row(
            r["at"].strftime("%Y-%m-%d %H:%M:%S"),
            r["actor"],
            r["action"],
            r["node_uid"] or "",
            r["outcome"],
            "" if r["detail"] is None else str(r["detail"])[:60],
        )
    console.print(table)
