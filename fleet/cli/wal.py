"""`fleet wal push|fetch`: PostgreSQL's archive_command and restore_command.

In postgresql.conf::

    archive_command = '/path/to/fleet --home /etc/fleet wal push %p'
    restore_command = '/path/to/fleet --home /etc/fleet wal fetch %f %p'

Both read only the settings (no registry), so the `postgres` user can run them as long as it
can read the settings, write the repository's `wal/` folder and (for fetch) read the identity.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fleet.backup.postgres.wal import WalArchive
from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state

app = typer.Typer(no_args_is_help=True, help="Archive and restore PostgreSQL WAL files.")


@app.command("push")
def push(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="The WAL file to archive (%p)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Archive one WAL file, encrypted, into the repository (archive_command = ... push %p)."""
    with handle_errors(as_json):
        result = WalArchive.from_settings(state(ctx).settings).push(path)
    if as_json:
        print_json(result)
    else:
        console.print(f"{result.name}: {result.outcome} ({result.size} bytes)", highlight=False)


@app.command("fetch")
def fetch(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The WAL file name PostgreSQL asks for (%f)."),
    dest: Path = typer.Argument(..., help="Where to write it (%p)."),
    identity: Path | None = typer.Option(
        None, "--identity", help="age identity file (default: [backup] identity)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Restore one WAL file from the repository (restore_command = ... fetch %f %p)."""
    with handle_errors(as_json):
        archive = WalArchive.from_settings(state(ctx).settings)
        if identity is not None:
            archive.identity_path = identity.absolute()
        mark = archive.fetch(name, dest)
    if as_json:
        print_json(mark)
