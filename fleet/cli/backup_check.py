"""`fleet backup check`: WAL archiving settings of the live cluster, and a live proof.

The lead mounts `check` under `fleet backup` (this module's `app` holds the one command).
"""

from __future__ import annotations

import typer
from rich.table import Table

from fleet.backup.layers.postgres import PostgresSettings
from fleet.backup.postgres.check import CheckReport, check_archiving
from fleet.backup.postgres.wal import WalArchive
from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import BackupError

app = typer.Typer(help="Check PostgreSQL WAL archiving.")


def _print(report: CheckReport) -> None:
    table = Table(title=f"WAL archiving of {report.server}")
    for col in ("check", "ok", "value", "wanted", "note"):
        table.add_column(col)
    for c in report.checks:
        mark = "[green]yes[/]" if c.ok else "[bold red]NO[/]"
        table.add_row(c.name, mark, c.value, c.expected, c.detail)
    console.print(table)


@app.command("check")
def check(
    ctx: typer.Context,
    dsn: str | None = typer.Option(
        None, "--dsn", help="Cluster to check (default: [layers.postgres] dsn)."
    ),
    switch: bool = typer.Option(
        True, "--switch/--no-switch", help="Force a WAL switch and wait for the segment."
    ),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the segment."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Confirm archive_mode/archive_command/archive_timeout and that a segment arrives."""
    with handle_errors(as_json):
        settings = state(ctx).settings
        target = dsn or settings.section("layers.postgres", PostgresSettings).dsn
        report = check_archiving(target, WalArchive.from_settings(settings), switch, timeout)
        if as_json:
            print_json({"ok": report.ok, **report.__dict__})
        else:
            _print(report)
        if not report.ok:
            names = ", ".join(c.name for c in report.failures())
            raise BackupError(f"WAL archiving check failed: {names}")
