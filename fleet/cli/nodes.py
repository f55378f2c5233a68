"""`fleet nodes`: register, import, list, show and export nodes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, handle_errors, print_json, state
from fleet.errors import NotFound, UsageError
from fleet.registry import Node, NodeSpec
from fleet.registry.export import export_nodes
from fleet.registry.hydro_db import read_hydro_nodes
from fleet.registry.importing import ImportRow, import_rows, read_rows
from fleet.vault import NODE_SECRET

app = typer.Typer(no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    uid: str = typer.Option(..., "--uid", help="Node uid, e.g. nd-ph-1."),
    hardware_id: str = typer.Option(None, "--hardware-id", help="esp32-<12 hex> (factory MAC)."),
    node_type: str = typer.Option("unknown", "--type", help="ph, ec, climate, irrig, light, ..."),
    gh: str = typer.Option(..., "--gh", help="Greenhouse uid, e.g. gh-1."),
    zone: str = typer.Option(..., "--zone", help="Zone uid, e.g. zn-3."),
    mac: str = typer.Option(None, "--mac", help="Factory MAC (aa:bb:cc:dd:ee:ff)."),
    chip: str = typer.Option("esp32", "--chip", help="esp32, esp32c3 or esp32s3."),
    name: str = typer.Option(None, "--name"),
    secret: str = typer.Option(
        None, "--secret", help="Existing node_secret (64 hex); a new one is generated if omitted."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register one node; its secret goes to the vault (generated when not given)."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        spec = NodeSpec(
            uid=uid,
            gh_uid=gh,
            zone_uid=zone,
            node_type=node_type,
            hardware_id=hardware_id,
            mac=mac,
            chip=chip,
            name=name,
        )
        rows = [ImportRow(spec, secret)]
        import_rows(fctx.registry, fctx.vault, rows, source="cli", action="node.add")
        node = fctx.registry.get_node(uid)
    if as_json:
        print_json(node)
    else:
        console.print(f"registered {node.uid} ({node.hardware_id or 'no hardware_id'})")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(None, help="CSV (header line) or JSON file of nodes."),
    from_db: str = typer.Option(
        None, "--from-db", help="Read the hydro 2.0 PostgreSQL database at this URL instead."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import many nodes at once: all or nothing (one bad row imports nothing and is named)."""
    with handle_errors(as_json):
        if (file is None) == (from_db is None):
            raise UsageError("give either FILE or --from-db URL")
        fctx = state(ctx).context
        if file is not None:
            rows, source = read_rows(file), f"file:{file.name}"
        else:
            rows, source = read_hydro_nodes(from_db), "hydro-db"
        result = import_rows(fctx.registry, fctx.vault, rows, source=source)
    if as_json:
        print_json(result)
    else:
        console.print(
            f"imported {result.imported} nodes ({result.secrets_given} secrets imported, "
            f"{result.secrets_generated} generated)"
        )


_NODE_KEYS = [f.name for f in dataclasses.fields(Node)]


def _node_dict(n: Any) -> dict[str, Any]:
    return {k: getattr(n, k) for k in _NODE_KEYS}


@app.command("list")
def list_(
    ctx: typer.Context,
    gh: str = typer.Option(None, "--gh", help="Only this greenhouse."),
    zone: str = typer.Option(None, "--zone", help="Only this zone."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Every registered node with its liveness state."""
    with handle_errors(as_json):
        nodes = state(ctx).context.registry.list_nodes(gh=gh, zone=zone)
    if as_json:
        print_json([_node_dict(n) for n in nodes])
        return
    table = Table("uid", "hardware_id", "type", "gh/zone", "state", "since", "rssi", "fw")
    for n in nodes:
        since = n.state_since.strftime("%Y-%m-%d %H:%M:%S") if n.state_since else ""
        table.add_row(
            n.uid,
            n.hardware_id or "",
            n.node_type,
            f"{n.gh_uid}/{n.zone_uid}",
            n.state,
            since,
            "" if n.rssi is None else str(n.rssi),
            n.fw_version or "",
        )
    console.print(table)
    console.print(f"{len(nodes)} nodes")


@app.command("show")
def show(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="Node uid."),
    reveal_secret: bool = typer.Option(
        False, "--reveal-secret", help="Print the node_secret (the reveal is audited)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """One node: identity, liveness and whether the vault holds its secret."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        node = fctx.registry.get_node(uid)
        info = _node_dict(node)
        info["secret_in_vault"] = fctx.vault.has(NODE_SECRET, uid)
        if reveal_secret:
            if not info["secret_in_vault"]:
                raise NotFound(f"the vault holds no node_secret for {uid}", node_uid=uid)
            info["node_secret"] = fctx.vault.node_secret(uid)
            fctx.registry.audit("node.reveal_secret", node_uid=uid)
    if as_json:
        print_json(info)
        return
    for k, v in info.items():
        console.print(f"{k:18} {'' if v is None else v}", highlight=False)


@app.command("export")
def export(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Output file: .csv or .json."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the node list to a file (never any secret)."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        count = export_nodes(fctx.registry.list_nodes(), file)
        fctx.registry.audit("node.export", detail={"file": str(file), "count": count})
    if as_json:
        print_json({"file": str(file), "count": count})
    else:
        console.print(f"exported {count} nodes to {file} (no secrets)")
