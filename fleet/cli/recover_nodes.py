"""`fleet recover nodes`: re-register every node with the backend, then the station queue."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, err_console, handle_errors, print_json, state
from fleet.errors import UsageError
from fleet.reregister.backend import Counters
from fleet.reregister.plan import ReregisterPlan, StationEntry, plan_reregister
from fleet.reregister.run import ReregisterReport, reregister
from fleet.reregister.settings import backend_settings, load_token


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _queue_table(queue: dict[str, list[StationEntry]]) -> Table:
    """Every node when there are few; per chip counts and the nodes not ready when many."""
    title = "station queue (plug in any order: each board is recognised by its MAC)"
    table = Table(title=title)
    if sum(len(e) for e in queue.values()) <= 50:
        for col in ("chip", "node", "type", "MAC", "ready"):
            table.add_column(col)
        for chip, entries in queue.items():
            for e in entries:
                ready = "[green]yes[/]" if e.ready else f"[red]no[/]: {e.note}"
                table.add_row(chip, e.uid, e.node_type, e.mac or "-", ready)
        return table
    for col in ("chip", "nodes", "ready", "not ready (node: why)"):
        table.add_column(col)
    for chip, entries in queue.items():
        waiting = [f"{e.uid}: {e.note}" for e in entries if not e.ready]
        shown = "\n".join(waiting[:20]) + (
            f"\n... {len(waiting) - 20} more" if len(waiting) > 20 else ""
        )
        table.add_row(chip, str(len(entries)), str(len(entries) - len(waiting)), shown or "-")
    table.caption = "the full list, with MACs: --json"
    return table


def _print_plan(plan: ReregisterPlan) -> None:
    console.print(f"backend: {plan.backend}")
    console.print(
        f"nodes: {plan.nodes}, registered by an earlier run: {plan.already}, to register: "
        f"{plan.todo}"
    )
    console.print(
        f"limit: {plan.per_ip_per_min} requests per {plan.window_seconds:g} s per IP -> at "
        f"least {plan.floor_windows} window(s); paced ETA {_clock(plan.eta_seconds)}"
    )
    if plan.secrets_missing:
        console.print(
            f"[yellow]{len(plan.secrets_missing)} node(s) without a secret in the vault[/] "
            "(adopted from the backend if it sends one; else --rotate-lost-secrets)"
        )
    console.print(f"journal: {plan.journal}")


def _print_report(report: ReregisterReport) -> None:
    console.print(_queue_table(report.station_queue))
    table = Table(title=f"re-registration with {report.backend}")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("nodes", report.nodes),
        ("registered now", len(report.registered)),
        ("registered by an earlier run", len(report.already)),
        ("failed", len(report.failed)),
        ("secrets adopted from the backend", len(report.secrets_adopted)),
        ("secrets rotated", len(report.secrets_rotated)),
        ("secrets lost", len(report.secrets_lost)),
        ("NVS images rebuilt", report.nvs_rebuilt),
        ("requests", report.requests),
        ("429 answers", report.throttled),
        ("retries", report.retries),
    ]
    for what, n in rows:
        table.add_row(what, str(n))
    console.print(table)
    for f in report.failed:
        console.print(f"[red]failed[/] {f['uid']}: HTTP {f['status'] or '-'} {f['reason']}")
    for f in report.nvs_failed:
        console.print(f"[red]no NVS image[/] {f['uid']}: {f['reason']}")
    if report.secrets_lost:
        console.print(
            f"[yellow]{len(report.secrets_lost)} node(s) have no secret anywhere[/]: run again "
            "with --rotate-lost-secrets to give them fresh ones"
        )
    console.print(f"elapsed: {report.elapsed:.1f} s   journal: {report.journal}")
    if report.failed:
        console.print("Run the same command again: it retries only the nodes not yet registered.")


class _Bar:
    """`RegProgress` as a rich bar with the pacing ETA and the 429 count."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None

    def started(self, total: int, done: int, eta: float) -> None:
        self.task = self.bar.add_task(
            "register", total=total, completed=done, eta=_clock(eta), extra=""
        )

    def node_done(self, uid: str, result: str, eta: float, counters: Counters) -> None:
        assert self.task is not None
        extra = f"429s {counters.throttled}  retries {counters.retries}"
        self.bar.update(self.task, advance=1, eta=_clock(eta), extra=extra)


def nodes(
    ctx: typer.Context,
    backend: str = typer.Option(
        None, "--backend", help="Backend base URL (default: setting backend.url)."
    ),
    token_file: Path = typer.Option(
        None, "--token-file", help="File (mode 0600) holding the API token."
    ),
    plan_only: bool = typer.Option(False, "--plan", help="Show what would happen; send nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before starting."),
    rotate_lost: bool = typer.Option(
        False, "--rotate-lost-secrets", help="Give nodes whose secret is lost a fresh one."
    ),
    rebuild_nvs: bool = typer.Option(
        False, "--rebuild-nvs", help="Rebuild every node's NVS image, not only missing ones."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start a new campaign (the old journal is kept aside)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-register every node with the backend (paced, resumable), then list the station queue."""
    with handle_errors(as_json):
        st = state(ctx)
        cfg = backend_settings(st.settings, backend)
        fctx = st.context
        if plan_only:
            plan = plan_reregister(fctx, cfg)
            if as_json:
                print_json(plan)
            else:
                _print_plan(plan)
                console.print(_queue_table(plan.station_queue))
            return
        token = load_token(cfg, st.settings.home, token_file)
        if not yes:
            if as_json or not sys.stdin.isatty():
                raise UsageError("re-registering changes the backend: pass --yes to run")
            _print_plan(plan_reregister(fctx, cfg))
            if not typer.confirm("Re-register these nodes now?", err=True):
                raise UsageError("re-registration not started (answered no)")
        if as_json:
            report = reregister(
                fctx, cfg, token, rotate_lost=rotate_lost, fresh=fresh, rebuild_nvs=rebuild_nvs
            )
        else:
            with Progress(
                TextColumn("recover nodes"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("ETA {task.fields[eta]}"),
                TextColumn("{task.fields[extra]}"),
                console=err_console,
            ) as bar:
                report = reregister(
                    fctx,
                    cfg,
                    token,
                    rotate_lost=rotate_lost,
                    fresh=fresh,
                    rebuild_nvs=rebuild_nvs,
                    progress=_Bar(bar),
                )
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
