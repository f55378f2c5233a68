"""`fleet backup`: take, list, verify and prune encrypted site snapshots; make a key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from fleet.backup import agecrypt
from fleet.backup.prune import prune as prune_repo
from fleet.backup.prune import prune_wal
from fleet.backup.repository import Repository
from fleet.backup.restore import load_identity
from fleet.backup.runner import run_backup
from fleet.backup.settings import backup_settings
from fleet.backup.verify import verify_snapshot
from fleet.cli import backup_check
from fleet.cli._common import JSON_OPTION, console, err_console, handle_errors, print_json, state
from fleet.errors import BackupError, CorruptData, FleetError, LayerError
from fleet.settings import write_file_setting

app = typer.Typer(no_args_is_help=True)


class _Bars:
    """Rich progress: one line per layer, bytes stored so far."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self.bytes: dict[str, int] = {}

    def layer_started(self, layer: str) -> None:
        self.bytes[layer] = 0
        self.tasks[layer] = self.progress.add_task(f"{layer}: running", total=None)

    def artifact(self, layer: str, name: str, size: int) -> None:
        self.bytes[layer] += size
        self.progress.update(
            self.tasks[layer], description=f"{layer}: {name} ({_human(self.bytes[layer])})"
        )

    def layer_finished(self, layer: str, status: str, error: str | None) -> None:
        mark = "[green]ok[/]" if status == "ok" else f"[red]failed[/]: {error}"
        self.progress.update(
            self.tasks[layer],
            total=1,
            completed=1,
            description=f"{layer}: {mark} ({_human(self.bytes[layer])})",
        )


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _repo(ctx: typer.Context) -> Repository:
    settings = state(ctx).settings
    return Repository(backup_settings(settings).repository_path(settings.home))


def _identity(ctx: typer.Context, given: Path | None) -> Any:
    return load_identity(state(ctx).settings, given)


@app.command("run")
def run(
    ctx: typer.Context,
    layers: str = typer.Option(None, "--layers", help="Only these layers (comma-separated)."),
    verify: bool = typer.Option(
        False, "--verify", help="Re-read every artifact afterwards (structure verification)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Take one encrypted snapshot of every configured layer (or only --layers)."""
    only = [x.strip() for x in layers.split(",") if x.strip()] if layers else None
    with handle_errors(as_json):
        settings = state(ctx).settings
        if as_json:
            result = run_backup(settings, only, verify=verify)
        else:
            columns = (
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=err_console, transient=False) as progress:
                result = run_backup(settings, only, _Bars(progress), verify=verify)
    if as_json:
        print_json({"ok": result.ok, **result.__dict__})
    else:
        console.print(
            f"snapshot {result.snapshot}: {result.artifacts} artifacts, {_human(result.bytes)}"
            f" -> {result.path}"
        )
        ran = ", ".join(f"{k} ({v})" for k, v in result.layers.items())
        console.print(f"layers run: {ran}")
        if result.skipped:
            skipped = ", ".join(f"{k} ({v})" for k, v in result.skipped.items())
            console.print(escape(f"not backed up: {skipped}"))
        if result.verify is not None:
            v = result.verify
            state_ = "checked" if v.ok else "FAILED check"
            console.print(f"{state_} ({v.level}); `fleet backup verify --read-data` reads it all")
    if result.errors:
        first = next(iter(result.errors))
        err = LayerError(first, result.errors[first])
        if not as_json:
            for msg in result.errors.values():
                err_console.print(f"[bold red]error:[/] {escape(msg)}")
        raise typer.Exit(err.exit_code)
    if result.verify is not None and not result.verify.ok:
        raise typer.Exit(CorruptData.exit_code)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Every complete snapshot, oldest first, with its layers, size and last verification."""
    rows = []
    with handle_errors(as_json):
        repo = _repo(ctx)
        for sid in repo.snapshot_ids():
            row: dict[str, Any] = {"id": sid}
            try:
                man = repo.manifest(sid)
                row |= {
                    "site": man.site,
                    "started_at": man.started_at,
                    "finished_at": man.finished_at,
                    "complete": man.complete,
                    "layers": {k: v.status for k, v in man.layers.items()},
                    "artifacts": len(man.artifacts),
                    "bytes": sum(a.cipher_size for a in man.artifacts),
                }
            except FleetError as exc:
                row["error"] = exc.message
            vs = repo.verify_state(sid)
            row["verified"] = None if vs is None else {"ok": vs.ok, "level": vs.level, "at": vs.at}
            rows.append(row)
    if as_json:
        print_json({"repository": str(repo.root), "snapshots": rows})
        return
    table = Table(title=f"snapshots in {repo.root}")
    table.add_column("id", no_wrap=True)
    for col in ("finished", "layers", "size", "verified"):
        table.add_column(col)
    for row in rows:
        v = row["verified"]
        vtext = "never" if v is None else ("ok " if v["ok"] else "FAILED ") + v["level"]
        layers = row.get("error") or ", ".join(
            n if s == "ok" else f"{n} (failed)" for n, s in row.get("layers", {}).items()
        )
        table.add_row(
            row["id"], row.get("finished_at", "?"), layers, _human(row.get("bytes", 0)), vtext
        )
    console.print(table)


@app.command("verify")
def verify(
    ctx: typer.Context,
    snapshot: str = typer.Argument(None, help="Snapshot id, or `all` (default: the newest)."),
    read_data: bool = typer.Option(
        False, "--read-data", help="Decrypt and check every byte (needs the identity)."
    ),
    identity: Path = typer.Option(None, "--identity", help="age identity file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a snapshot: files, sizes and hashes; with --read-data also decrypt everything."""
    with handle_errors(as_json):
        repo = _repo(ctx)
        ident = _identity(ctx, identity) if read_data else None
        ids = repo.snapshot_ids() if snapshot == "all" else [repo.resolve(snapshot)]
        if not ids:
            raise BackupError(f"the repository {repo.root} holds no snapshot yet")
        reports = [verify_snapshot(repo, sid, ident) for sid in ids]
    ok = all(r.ok for r in reports)
    if as_json:
        print_json({"ok": ok, "snapshots": reports})
    else:
        for r in reports:
            if r.ok:
                console.print(f"{r.snapshot}: ok ({r.level}, {r.artifacts} artifacts)")
            else:
                console.print(f"[red]{r.snapshot}: FAILED[/] ({r.level})")
                for p in r.problems:
                    console.print(f"  - {escape(p)}", highlight=False)
    if not ok:
        raise typer.Exit(CorruptData.exit_code)


@app.command("prune")
def prune(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would go."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete snapshots outside the retention policy; the newest verified one always stays."""
    with handle_errors(as_json):
        settings = state(ctx).settings
        cfg = backup_settings(settings)
        repo = _repo(ctx)
        decisions = prune_repo(repo, cfg.retention, dry_run=dry_run)
        kept = {d.id for d in decisions if d.keep}
        wal = prune_wal(repo, cfg.retention, kept, dry_run=dry_run)
    if as_json:
        print_json({"dry_run": dry_run, "decisions": decisions, "wal": wal})
        return
    verb = "would delete" if dry_run else "deleted"
    for d in decisions:
        what = "keep" if d.keep else verb
        console.print(escape(f"{d.id}: {what} ({'; '.join(d.reasons)})"), highlight=False)
    gone = sum(1 for d in decisions if not d.keep)
    console.print(f"{gone} snapshot(s) {verb}, {len(decisions) - gone} kept")
    console.print(
        f"{len(wal)} archived WAL file(s) {verb} (older than the WAL window and "
        "needed by no kept base backup)"
    )


@app.command("keygen")
def keygen(
    ctx: typer.Context,
    output: Path = typer.Option(..., "--output", "-o", help="Identity file to create (0600)."),
    add: bool = typer.Option(
        False, "--add-recipient", help="Also append the public key to backup.recipients."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an age identity file (mode 0600) and print its public recipient key.

    Keep the identity OFF the backed-up server (it is the only way to read snapshots); the
    server needs only the printed `age1...` recipient.
    """
    with handle_errors(as_json):
        recipient = agecrypt.write_identity(output.expanduser().absolute())
        if add:
            settings = state(ctx).settings
            current = list(backup_settings(settings).recipients)
            if recipient not in current:
                write_file_setting(settings.home, "backup.recipients", [*current, recipient])
    if as_json:
        print_json({"identity": str(output), "recipient": recipient, "added": add})
    else:
        console.print(recipient)
        err_console.print(
            escape(
                f"identity written to {output} (0600). Keep a copy offline: without it no "
                "snapshot can be read. Put the recipient above into [backup] recipients"
                + (" (done)." if add else ".")
            )
        )


# `fleet backup check` (WAL archiving of the PostgreSQL layer) lives with the WAL code.
app.command("check")(backup_check.check)
