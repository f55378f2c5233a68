"""`fleet nvs`: build, escrow, show, verify and diff NVS partition images."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fleet.cli import nvs_pull
from fleet.cli._common import JSON_OPTION, console, err_console, handle_errors, print_json, state
from fleet.context import FleetContext
from fleet.errors import NotFound, UsageError
from fleet.nvs import escrow
from fleet.nvs.inspect import describe, diff_configs, verify
from fleet.nvs.sizing import PartitionSizer

app = typer.Typer(no_args_is_help=True)

KEY_OPTION = typer.Option(
    None, "--key", help="nvs_keys partition (or 64-byte key) file of an encrypted image."
)


def _write_secret_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by the owner only (0600), even if it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    """A file's bytes; NotFound naming the file when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NotFound(f"cannot read {path}: {exc.strerror}") from exc


def _source(
    fctx_get: Any, file: Path | None, node: str | None, key_file: Path | None
) -> tuple[bytes, bytes | None, str, str | None]:
    """(image, key, source name, node uid) from FILE or --node UID (the escrowed image)."""
    if (file is None) == (node is None):
        raise UsageError("give either FILE or --node UID")
    if file is not None:
        key = _read(key_file) if key_file is not None else None
        return _read(file), key, str(file), None
    assert node is not None
    fctx: FleetContext = fctx_get()
    image, _meta, keys = escrow.escrowed(fctx, node)
    return image, keys, f"escrow of {node}", node


@app.command("build")
def build(
    ctx: typer.Context,
    uid: str = typer.Argument(None, help="Node uid (or --all)."),
    all_: bool = typer.Option(False, "--all", help="Rebuild the escrow of every node."),
    output: Path = typer.Option(
        None, "-o", "--output", help="Also write the image in clear to FILE (0600; holds secrets)."
    ),
    keys_output: Path = typer.Option(
        None, "--keys-output", help="With NVS encryption: write the nvs_keys partition (0600)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Build a node's NVS image from its template and the site values, and escrow it."""
    with handle_errors(as_json):
        if all_ == (uid is not None):
            raise UsageError("give a node UID or --all")
        fctx = state(ctx).context
        if all_:
            if output or keys_output:
                raise UsageError("-o/--keys-output write one node's image: not with --all")
            _build_all(fctx, as_json)
            return
        done = escrow.build_for_node(fctx, uid)
        info: dict[str, Any] = {
            "node_uid": done.node_uid,
            "record": done.record_id,
            "sha256": done.sha256,
            "size": done.size,
            "node_type": done.node_type,
            "template_version": done.template_version,
            "config_version": done.config_version,
            "encrypted": done.encrypted,
        }
        if output is not None:
            _write_secret_file(output, done.image)
            info["output"] = str(output)
            info["output_holds_secrets"] = True
        if keys_output is not None:
            _image, _meta, keys = escrow.escrowed(fctx, uid)
            if keys is None:
                raise UsageError(f"the image of {uid} is not encrypted: there are no keys")
            _write_secret_file(keys_output, keys)
            info["keys_output"] = str(keys_output)
    if as_json:
        print_json(info)
        return
    console.print(
        f"escrowed NVS image of {uid}: record {done.record_id}, {done.size} bytes, "
        f"sha256 {done.sha256[:16]}…, template {done.node_type} v{done.template_version}",
        highlight=False,
    )
    if output is not None:
        err_console.print(
            f"[yellow]wrote {output} (mode 0600): it holds the node_secret and passwords in "
            "clear. Delete it once flashed.[/]",
            highlight=False,
        )


def _build_all(fctx: FleetContext, as_json: bool) -> None:
    nodes = fctx.registry.list_nodes()
    if as_json:
        result = escrow.build_all(fctx, nodes=nodes)
    else:
        columns = (
            TextColumn("escrow"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("nvs", total=len(nodes))
            result = escrow.build_all(
                fctx, on_node=lambda _uid, _err: bar.advance(task), nodes=nodes
            )
    summary = {
        "built": result.built,
        "failed": len(result.failures),
        "seconds": round(result.seconds, 3),
        "images_per_second": round(result.images_per_second, 1),
        "failures": [{"node_uid": u, "error": e} for u, e in result.failures],
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"escrowed {result.built} NVS images in {result.seconds:.2f} s "
            f"({result.images_per_second:.0f}/s); {len(result.failures)} failed",
            highlight=False,
        )
        for uid, error in result.failures:
            err_console.print(f"[red]{uid}[/]: {error}", highlight=False)
    if result.failures:
        raise typer.Exit(1)


@app.command("show")
def show(
    ctx: typer.Context,
    file: Path = typer.Argument(None, help="An NVS partition image (or use --node)."),
    node: str = typer.Option(None, "--node", help="Show the node's newest escrowed image."),
    key_file: Path = KEY_OPTION,
    reveal: bool = typer.Option(
        False, "--reveal-secrets", help="Print node_secret and passwords (audited for --node)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Pages, namespaces and values of an NVS image; the NodeConfig with secrets masked."""
    from fleet.nvs.parser import parse_partition

    with handle_errors(as_json):
        image, key, name, uid = _source(lambda: state(ctx).context, file, node, key_file)
        info = describe(parse_partition(image, key, strict=False), reveal)
        info["source"] = name
        info["sha256"] = hashlib.sha256(image).hexdigest()
        if reveal and uid is not None:
            state(ctx).context.registry.audit("nvs.reveal", node_uid=uid)
    if as_json:
        print_json(info)
        return
    console.print(
        f"{name}: {info['size']} bytes, format v{info['format_version']}, "
        f"{'encrypted' if info['encrypted'] else 'not encrypted'}, sha256 {info['sha256']}",
        highlight=False,
    )
    for p in info["pages"]:
        console.print(
            f"  page {p['index']}: {p['state']:<13} seq {p['seq']} written {p['written']} "
            f"erased {p['erased']} empty {p['empty']}",
            highlight=False,
        )
    for ns, values in info["values"].items():
        for k, v in values.items():
            console.print(f"[bold]{ns}/{k}[/] ({v['type']}):", highlight=False)
            if isinstance(v["value"], dict | list):
                console.print_json(data=v["value"])
            else:
                console.print(f"  {v['value']}", highlight=False)
    for problem in info["problems"]:
        err_console.print(f"[red]problem:[/] {problem}", highlight=False)


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(None, help="An NVS partition image (or use --node)."),
    node: str = typer.Option(None, "--node", help="Verify the node's newest escrowed image."),
    key_file: Path = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Parse, check every CRC and the NodeConfig rules; exit non-zero on any problem."""
    with handle_errors(as_json):
        image, key, name, uid = _source(lambda: state(ctx).context, file, node, key_file)
        expected = None
        if uid is not None:
            fctx = state(ctx).context
            expected = PartitionSizer(fctx, escrow.nvs_settings(fctx).partition_size).size(
                fctx.registry.get_node(uid)
            )
        report = verify(image, key, source=name, node_uid=uid, expected_size=expected)
        if uid is not None:
            _img, meta, _keys = escrow.escrowed(state(ctx).context, uid)
            if meta.get("sha256") != hashlib.sha256(image).hexdigest():
                report.problems.append(f"{name}: SHA-256 differs from the one escrowed with it")
    result = {
        "source": name,
        "ok": report.ok,
        "node_id": (report.config or {}).get("node_id"),
        "problems": report.problems,
    }
    if as_json:
        print_json(result)
    elif report.ok:
        console.print(f"{name}: OK (CRCs, NodeConfig of {result['node_id']})", highlight=False)
    else:
        for problem in report.problems:
            err_console.print(f"[red]problem:[/] {problem}", highlight=False)
    if not report.ok:
        raise typer.Exit(65)


@app.command("diff")
def diff(
    ctx: typer.Context,
    a: str = typer.Argument(..., help="Image file, or a node uid (its escrowed image)."),
    b: str = typer.Argument(..., help="Image file, or a node uid (its escrowed image)."),
    key_file: Path = KEY_OPTION,
    reveal: bool = typer.Option(False, "--reveal-secrets", help="Show differing secrets."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare the NodeConfigs of two images field by field (exit 1 when they differ)."""
    from fleet.nvs.nodeconfig import read_nodeconfig

    with handle_errors(as_json):
        configs = []
        for arg in (a, b):
            path = Path(arg)
            if path.exists():
                key = _read(key_file) if key_file is not None else None
                configs.append(read_nodeconfig(_read(path), key))
            else:
                image, _meta, keys = escrow.escrowed(state(ctx).context, arg)
                configs.append(read_nodeconfig(image, keys))
        changes = diff_configs(configs[0], configs[1], reveal)
    if as_json:
        print_json({"a": a, "b": b, "same": not changes, "changes": changes})
    elif not changes:
        console.print("NodeConfigs are identical")
    else:
        for c in changes:
            console.print(f"{c.path}: {c.a!r} -> {c.b!r}", highlight=False)
    if changes:
        raise typer.Exit(1)


@app.command("history")
def history(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="Node uid."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Escrowed images of a node, newest first (no image content)."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        fctx.registry.get_node(uid)
        rows = [
            {"record": i.id, "created_at": i.created_at, **(i.meta or {})}
            for i in fctx.vault.history(escrow.IMAGE_KIND, uid)
        ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['record']:>6}  {r['created_at']:%Y-%m-%d %H:%M:%S}  {r.get('sha256', '')[:16]}  "
            f"{r.get('node_type')} {_origin(r)}  {r.get('size')} B",
            highlight=False,
        )
    console.print(f"{len(rows)} images")


def _origin(meta: dict[str, Any]) -> str:
    if meta.get("source") == "device":
        return f"pulled from {meta.get('port')}"
    return f"template v{meta.get('template_version')}"


@app.command("prune")
def prune(
    ctx: typer.Context,
    uid: str = typer.Argument(None, help="Node uid (default: every node)."),
    keep: int = typer.Option(..., "--keep", help="How many of the newest images to keep (>= 1)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete old escrowed images, keeping the newest KEEP per node."""
    with handle_errors(as_json):
        fctx = state(ctx).context
        if uid is not None:
            fctx.registry.get_node(uid)
        removed = escrow.prune(fctx, keep, uid)
    if as_json:
        print_json({"node_uid": uid, "keep": keep, "removed": removed})
    else:
        console.print(f"removed {removed} old NVS images (kept the newest {keep} per node)")


# `fleet nvs pull` (read a live board's NVS back and escrow it) lives with the flashing code.
app.command("pull")(nvs_pull.pull)
