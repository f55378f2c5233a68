"""`fleet recover site SNAPSHOT`: bring the whole site back in the seed's order, resumably."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet.cli._common import JSON_OPTION, console, err_console, handle_errors, print_json, state
from fleet.errors import UsageError
from fleet.recovery.site import SitePlan, SiteReport, plan_site, recover_site

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Disaster recovery: the whole site from a snapshot (more commands may join: nodes)."""


def _plan_table(plan: SitePlan) -> Table:
    table = Table(title=f"recovery plan of snapshot {plan.snapshot} (taken {plan.created_at})")
    for col in ("#", "step", "what happens", "then run"):
        table.add_column(col)
    for i, step in enumerate(plan.steps, 1):
        what = f"[yellow]skip:[/] {step.skip}" if step.skip else f"{step.title}: {step.action}"
        if plan.journal.get(step.name) in ("done", "skipped"):
            what = f"[green]{plan.journal[step.name]} in an earlier run[/] - {what}"
        table.add_row(str(i), step.name, what, "\n".join(step.commands) or "-")
    return table


def _summary(detail: dict[str, Any]) -> str:
    if "reason" in detail:
        return str(detail["reason"])
    parts = []
    if "items" in detail:
        counts: dict[str, int] = {}
        for item in detail["items"]:
            counts[item["result"]] = counts.get(item["result"], 0) + 1
        parts.append(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing")
        aside = [i["aside"] for i in detail["items"] if "aside" in i]
        if aside:
            parts.append(f"moved aside: {', '.join(aside)}")
    if "databases" in detail:
        parts.append(
            "databases: "
            + ", ".join(f"{d.get('database')} ({d.get('action')})" for d in detail["databases"])
        )
    if detail.get("commands"):
        parts.append(f"{len(detail['commands'])} command(s) ok")
    if "campaign" in detail:
        parts.append(f"campaign {detail['campaign']}")
    if "need_station" in detail:
        need = detail["need_station"]
        parts.append(f"{len(need)} of {detail.get('nodes', '?')} node(s) need the station")
    if detail.get("note"):
        parts.append(str(detail["note"]))
    return "; ".join(parts)


def _print_report(report: SiteReport) -> None:
    title = f"recovery of snapshot {report.snapshot}" + (" (resumed)" if report.resumed else "")
    table = Table(title=title)
    for col in ("step", "state", "seconds", "attempts", "what happened"):
        table.add_column(col)
    colour = {"done": "green", "skipped": "yellow", "failed": "red", "running": "red"}
    for s in report.steps:
        text = s.error if s.error else _summary(s.detail)
        st = f"[{colour.get(s.state, 'white')}]{s.state}[/]"
        table.add_row(s.name, st, f"{s.seconds:.1f}", str(s.attempts), text)
    console.print(table)
    console.print(f"total: {report.total_seconds:.1f} s   journal: {report.journal}")
    for s in report.steps:
        if s.name == "station" and s.detail.get("need_station"):
            console.print("nodes for the recovery station: " + " ".join(s.detail["need_station"]))
    if not report.ok:
        console.print(
            "[bold red]stopped.[/] Fix the cause above, then run the same command again: "
            "it resumes at the failed step."
        )


class _Bar:
    def __init__(self, bar: Progress, total: int, done: int) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=total, completed=done)

    def step_started(self, name: str, title: str) -> None:
        self.bar.update(self.task, description=title)

    def step_finished(self, name: str, state: str, seconds: float) -> None:
        self.bar.advance(self.task)
        self.bar.console.print(f"  {name}: {state} ({seconds:.1f} s)", highlight=False)


@app.command("site")
def site(
    ctx: typer.Context,
    snapshot: str = typer.Argument("latest", help="Snapshot id (default: the newest)."),
    plan_only: bool = typer.Option(False, "--plan", help="Print the plan; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before changing anything."),
    only: str = typer.Option(
        None, "--only", help="Comma-separated steps to run (e.g. mosquitto,reboot,station)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Recover the whole site: files, PostgreSQL, broker, then reboot nodes; resumes if cut."""
    with handle_errors(as_json):
        settings = state(ctx).settings
        steps = [x.strip() for x in only.split(",") if x.strip()] if only else None
        if plan_only:
            plan = plan_site(settings, snapshot)
            if steps:
                plan.steps = [p for p in plan.steps if p.name in steps]
            if as_json:
                print_json(plan)
            else:
                console.print(_plan_table(plan))
            return

        def confirm(plan: SitePlan) -> None:
            if yes:
                return
            if as_json or not sys.stdin.isatty():
                raise UsageError("recovering changes the site: pass --yes to run without asking")
            err_console.print(_plan_table(plan))
            if not typer.confirm("Run this recovery now?", err=True):
                raise UsageError("recovery not started (answered no)")

        if as_json:
            report = recover_site(settings, snapshot, before_start=confirm, only=steps)
        else:
            with Progress(
                TextColumn("recover site"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                holder: dict[str, _Bar] = {}

                def confirm_then_bar(plan: SitePlan) -> None:
                    bar.stop()
                    confirm(plan)
                    bar.start()
                    done = sum(
                        1 for p in plan.steps if plan.journal.get(p.name) in ("done", "skipped")
                    )
                    holder["bar"] = _Bar(bar, len(plan.steps), done)

                class _Late:
                    def step_started(self, name: str, title: str) -> None:
                        holder["bar"].step_started(name, title)

                    def step_finished(self, name: str, state: str, seconds: float) -> None:
                        holder["bar"].step_finished(name, state, seconds)

                report = recover_site(
                    settings,
                    snapshot,
                    progress=_Late(),
                    before_start=confirm_then_bar,
                    only=steps,
                )
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


from fleet.cli.recover_nodes import nodes as _nodes  # noqa: E402  (its own module, mounted here)

app.command("nodes")(_nodes)
