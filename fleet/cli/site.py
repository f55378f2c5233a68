"""`fleet site`: site-wide values every node's NodeConfig is rendered from."""

from __future__ import annotations

import sys

import typer

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import UsageError
from fleet.nvs import site as site_lib

app = typer.Typer(no_args_is_help=True)

NODE_OPTION = typer.Option(None, "--node", help="Set one node's override instead of the site's.")


@app.command("set")
def set_(
    ctx: typer.Context,
    key: str = typer.Argument(..., help=f"One of: {', '.join(site_lib.KEY_TYPES)}."),
    value: str = typer.Argument(
        None, help="The value; omit it to be prompted (hidden for passwords) or use --stdin."
    ),
    stdin: bool = typer.Option(False, "--stdin", help="Read the value from stdin (one line)."),
    node: str = NODE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Set a site value; wifi.pass and mqtt.password go to the vault, never to fleet.toml."""
    with handle_errors(as_json):
        if value is not None and stdin:
            raise UsageError("give VALUE or --stdin, not both")
        if stdin:
            value = sys.stdin.readline().rstrip("\r\n")
        elif value is None:
            secret = key in site_lib.SECRET_KEYS
            value = typer.prompt(key, hide_input=secret, confirmation_prompt=secret)
        change = site_lib.set_value(state(ctx).context, key, value, node)
    if as_json:
        print_json(change)
        return
    target = f"node {node}" if node else "site"
    shown = "(secret)" if change.value is None else repr(change.value)
    console.print(f"{target}: {key} = {shown} -> {change.stored_in}", highlight=False)


@app.command("unset")
def unset(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="The key to remove."),
    node: str = NODE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a site value (or one node's override)."""
    with handle_errors(as_json):
        removed = site_lib.unset_value(state(ctx).context, key, node)
    if as_json:
        print_json({"key": key, "node_uid": node, "removed": removed})
    else:
        console.print(f"{key}: {'removed' if removed else 'was not set'}")


@app.command("show")
def show(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Site values (passwords masked) and which nodes have overrides."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        values = site_lib.show(fctx)
        overrides = sorted(site_lib.nodes_with_overrides(fctx))
    if as_json:
        print_json({"site": values, "nodes_with_overrides": overrides})
        return
    for k, v in values.items():
        console.print(f"{k:22} {'(unset)' if v is None else v}", highlight=False)
    if overrides:
        console.print(f"per-node overrides: {', '.join(overrides)}", highlight=False)
