"""`fleet firmware`: import validated ESP-IDF bundles, list them, assign them to nodes."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Column, Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import UsageError
from fleet.firmware.store import FirmwareStore
from fleet.protocol.ids import check_node_type

app = typer.Typer(no_args_is_help=True)


def _store(ctx: typer.Context) -> FirmwareStore:
    fctx = state(ctx).context
    return FirmwareStore(fctx.registry, fctx.home)


@app.command("import")
def import_(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="An idf.py build folder or a zip of one."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate a bundle (chip, image checksums and SHA-256, app description, partition
    table, offsets) and store it; a bad bundle is refused with the reason."""
    with handle_errors(as_json):
        entry, added = _store(ctx).import_bundle(source)
    if as_json:
        print_json({"added": added, **entry.__dict__})
    else:
        verb = "imported" if added else "already stored"
        console.print(
            f"{verb} {entry.id}: {entry.project} {entry.version} for {entry.chip} "
            f"(IDF {entry.idf_version}, app {entry.app_size} bytes, sha256 {entry.sha256[:16]}…)"
        )


@app.command("list")
def list_(
    ctx: typer.Context,
    chip: str = typer.Option(None, "--chip", help="Only firmware for this chip."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every stored firmware, newest first, with its assignments."""
    with handle_errors(as_json):
        store = _store(ctx)
        entries = store.entries(chip)
        assigned = store.assignments()
    if as_json:
        print_json(
            {
                "firmware": [
                    {k: v for k, v in e.__dict__.items() if k != "files"} | {"files": e.files}
                    for e in entries
                ],
                "assignments": assigned,
            }
        )
        return
    table = Table(
        Column("id", no_wrap=True, min_width=12),
        Column("chip", no_wrap=True),
        Column("project", no_wrap=True),
        Column("version", no_wrap=True),
        Column("app bytes", justify="right"),
        Column("sha256", no_wrap=True),
        "assigned to",
    )
    for e in entries:
        targets = ", ".join(
            f"{'type ' if a.kind == 'node_type' else ''}{a.target}"
            for a in assigned
            if a.firmware_id == e.id
        )
        table.add_row(
            e.id,
            e.chip,
            e.project,
            e.version,
            str(e.app_size),
            e.sha256[:12],
            targets or "-",
        )
    console.print(table)


@app.command("assign")
def assign(
    ctx: typer.Context,
    firmware_id: str = typer.Argument(..., help="Firmware id (or a unique prefix)."),
    node_type: str = typer.Option(None, "--node-type", help="Every node of this type."),
    node: str = typer.Option(None, "--node", help="One node uid (wins over its type)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Assign a firmware to a node type or to one node (per chip)."""
    with handle_errors(as_json):
        if (node_type is None) == (node is None):
            raise UsageError("give either --node-type TYPE or --node UID")
        fctx = state(ctx).context
        store = FirmwareStore(fctx.registry, fctx.home)
        if node is not None:
            result = store.assign(firmware_id, node=fctx.registry.get_node(node))
        else:
            result = store.assign(firmware_id, node_type=check_node_type(node_type))
    if as_json:
        print_json(result)
    else:
        console.print(
            f"{result.kind} {result.target} ({result.chip}) gets firmware {result.firmware_id}"
        )
