"""`fleet init`."""

from __future__ import annotations

import typer

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.home import init_home

app = typer.Typer()


@app.command("init")
def init(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Create the data directory: settings file, registry database and vault key (0600).

    Safe to run again: an existing key or settings file is never overwritten.
    """
    with handle_errors(as_json):
        result = init_home(state(ctx).settings)
    if as_json:
        print_json(result)
        return
    console.print(f"data directory  {result.home}")
    console.print(f"settings        {'created' if result.settings_created else 'kept'}")
    console.print(f"registry        {result.registry_url} (migrated)")
    key = "created (mode 0600)" if result.key_created else "kept"
    console.print(f"vault key       {key}")
    if result.key_created:
        console.print(
            "[yellow]Keep a copy of the vault key offline: without it no secret can be read.[/]"
        )
