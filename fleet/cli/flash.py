"""`fleet flash`: write a node's firmware and its own NVS over USB, verified, then reset."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, err_console, handle_errors, print_json, state
from fleet.flashing.device import ProgressFn
from fleet.flashing.flasher import flash_node

app = typer.Typer()


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[ProgressFn]:
    """A rich progress bar (on stderr) fed by a flasher progress callback."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=1)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"{label} {stage}", completed=done, total=total or 1)

        yield update


@app.command("flash")
def flash(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="Node uid, e.g. nd-ph-1."),
    port: str = typer.Option(..., "--port", "-p", help="Serial port or socket://host:port."),
    firmware: str = typer.Option(None, "--firmware", help="Firmware id (default: assigned)."),
    nvs_only: bool = typer.Option(False, "--nvs-only", help="Write only the NVS partition."),
    replacement: bool = typer.Option(
        False, "--replacement", help="The board replaces the node's old one: record its MAC."
    ),
    baud: int = typer.Option(None, "--baud", help="Baud rate after connecting."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Flash node UID on --port: firmware + its escrowed NVS, skipping what is already there."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        with progress_bar(uid, not as_json) as report:
            result = flash_node(
                fctx,
                uid,
                port,
                firmware,
                nvs_only=nvs_only,
                replacement=replacement,
                progress=report,
                baud=baud,
            )
    if as_json:
        print_json(
            {
                **result.__dict__,
                "bytes_written": result.bytes_written,
                "bytes_skipped": result.bytes_skipped,
            }
        )
        return
    table = Table("region", "offset", "bytes", "written")
    for r in result.regions:
        written = str(r.written) if r.written else "same"
        table.add_row(r.label, f"0x{r.offset:x}", str(r.size), written)
    console.print(table)
    console.print(
        f"flashed {result.node_uid} ({result.hardware_id}) on {result.port}: "
        f"{result.bytes_written} bytes written, {result.bytes_skipped} already there, "
        f"{result.seconds:.1f} s" + (" [replacement board recorded]" if result.replacement else "")
    )
