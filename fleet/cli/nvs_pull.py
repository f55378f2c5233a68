"""`fleet nvs pull`: read a live board's NVS back, parse it, escrow it.

The NVS command group mounts `pull` (`app.command("pull")(nvs_pull.pull)`); `app` here
also exposes it on its own.
"""

from __future__ import annotations

import typer

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.cli.flash import progress_bar
from fleet.flashing.nvs_pull import pull_nvs

app = typer.Typer()


@app.command("pull")
def pull(
    ctx: typer.Context,
    port: str = typer.Option(..., "--port", "-p", help="Serial port or socket://host:port."),
    node: str = typer.Option(None, "--node", help="Node uid (default: found by the board's MAC)."),
    baud: int = typer.Option(None, "--baud", help="Baud rate after connecting."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Read the partition table and NVS of the board on --port and escrow the NVS image."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        with progress_bar("nvs pull", not as_json) as report:
            result = pull_nvs(fctx, port, node, progress=report, baud=baud)
    if as_json:
        print_json(result)
        return
    console.print(
        f"escrowed NVS of {result.node_uid} from {result.port} (MAC {result.mac}): "
        f"{result.nvs_size} bytes at 0x{result.nvs_offset:x}, vault record {result.record_id}, "
        f"NodeConfig node_id={result.config_node_id} version={result.config_version}"
    )
