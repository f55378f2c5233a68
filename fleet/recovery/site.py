"""Whole-site recovery: `fleet recover site SNAPSHOT` as a library call.

`plan_site` says what would happen; `recover_site` does it in the seed's order (see
`fleet.recovery.plan`), each step journaled (`fleet.recovery.journal`) so that an interrupted
run resumes at the step it was in, and each step idempotent (files equal to the snapshot are
left alone; databases this recovery created in an earlier attempt are recreated; databases
that were there before are renamed aside, never dropped).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fleet.backup.layer import RestoreOptions
from fleet.backup.postgres.restore import database_state
from fleet.backup.runner import build_handler, layer_env
from fleet.errors import FleetError, UsageError
from fleet.recovery import postgres as pgsite
from fleet.recovery.journal import FAILED, FINAL, RUNNING, Journal
from fleet.recovery.plan import LAYER, REBOOT, PlannedStep, build_plan, step_names
from fleet.recovery.settings import postgres_dsn, recovery_settings
from fleet.recovery.source import SnapshotSource, open_source
from fleet.recovery.steps import crash_point, put_back_all, run_commands
from fleet.settings import Settings

NO_SERVICE = "skipped: no running service"
#: data-directory entries the fleet step never puts back (they belong to this machine's run)
_LOCAL = frozenset({"recovery", "drills", "backup.key"})


class StepProgress(Protocol):
    """What recover_site reports while it works (the CLI draws from it)."""

    def step_started(self, name: str, title: str) -> None:
        """A step begins."""

    def step_finished(self, name: str, state: str, seconds: float) -> None:
        """A step ended (`done`, `skipped`, `failed`)."""


@dataclass
class SitePlan:
    """The plan for one snapshot, and how far an earlier run of it got."""

    snapshot: str
    created_at: str
    steps: list[PlannedStep]
    journal: dict[str, str] = field(default_factory=dict)


@dataclass
class StepReport:
    """One step as the final report shows it."""

    name: str
    title: str
    state: str
    seconds: float
    attempts: int
    detail: dict[str, Any]
    error: str | None = None


@dataclass
class SiteReport:
    """The outcome of `recover_site`; `exit_code` is the failing error's (0 when ok)."""

    snapshot: str
    ok: bool
    resumed: bool
    total_seconds: float
    journal: str
    steps: list[StepReport]
    error: str | None = None
    exit_code: int = 0


def _plan(src: SnapshotSource) -> list[PlannedStep]:
    rcfg = recovery_settings(src.settings)
    dsn = postgres_dsn(src.settings)
    where = pgsite.where(dsn) if dsn else None
    return build_plan(src.layer_status(), rcfg.post_restore, where)


def _journal(src: SnapshotSource) -> Journal:
    folder = recovery_settings(src.settings).journal_path(src.settings.home)
    return Journal.open(folder, src.snapshot, step_names())


def unfinished_snapshot(settings: Settings) -> str | None:
    """The snapshot of the newest recovery that was cut short (a step running or failed).

    `latest` means this one while it exists: a snapshot taken *during* a recovery (a
    scheduled backup of a half-restored site) must not silently become the one resumed.
    """
    folder = recovery_settings(settings).journal_path(settings.home)
    best: tuple[str, str] | None = None
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            journal = Journal.open(folder, path.stem, [])
        except FleetError:
            continue
        cut = any(st.state in (RUNNING, FAILED) for st in journal.steps.values())
        if cut and (best is None or journal.created_at > best[0]):
            best = (journal.created_at, journal.snapshot)
    return best[1] if best else None


def _choose(settings: Settings, snapshot: str | None) -> str | None:
    if snapshot in (None, "latest"):
        return unfinished_snapshot(settings) or snapshot
    return snapshot


def plan_site(settings: Settings, snapshot: str | None = None) -> SitePlan:
    """What `recover_site` would do for `snapshot` (newest when None, or the snapshot of an
    unfinished recovery); changes nothing."""
    src = open_source(settings, _choose(settings, snapshot))
    folder = recovery_settings(settings).journal_path(settings.home)
    done: dict[str, str] = {}
    if (folder / f"{src.snapshot}.json").exists():
        journal = Journal.open(folder, src.snapshot, step_names())
        done = {k: v.state for k, v in journal.steps.items()}
    return SitePlan(src.snapshot, src.manifest.finished_at, _plan(src), done)


class _Runner:
    """Runs the steps of one recovery against its journal."""

    def __init__(self, src: SnapshotSource, journal: Journal) -> None:
        self.src = src
        self.journal = journal
        self.settings = src.settings
        self.rcfg = recovery_settings(src.settings)
        self.tag = journal.created_at.replace("-", "").replace(":", "").split("+")[0]
        self.staging_root = self.journal.path.parent / f"{src.snapshot}.staging"
        self._ctx: Any = None

    # -- helpers -----------------------------------------------------------------------
    def context(self) -> Any:
        if self._ctx is None:
            from fleet.context import FleetContext

            self._ctx = FleetContext.open(settings=self.settings)
        return self._ctx

    def _stage(self, layer: str) -> Path:
        staging = self.staging_root / layer
        if staging.exists():
            shutil.rmtree(staging)  # ours: left by an interrupted attempt
        self.staging_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.src.restore_files(layer, staging)
        return staging

    def _identity_name(self) -> frozenset[str]:
        """The identity file's name when it lives in the data directory (never put back)."""
        ident = self.src.config.identity_path(self.settings.home)
        if ident is not None and ident.parent.resolve() == self.settings.home.resolve():
            return frozenset({ident.name})
        return frozenset()

    # -- steps -------------------------------------------------------------------------
    def layer(self, step: PlannedStep) -> dict[str, Any]:
        assert step.layer is not None
        if step.layer == "postgres":
            detail = self.postgres(step)
        elif step.layer == "fleet":
            staging = self._stage("fleet")
            home = self.settings.home
            local = _LOCAL | self._identity_name()
            pairs = [(p, home / p.name) for p in sorted(staging.iterdir()) if p.name not in local]
            detail = {"items": put_back_all(pairs, self.tag, step.name, only_missing=True)}
        else:
            staging = self._stage(step.layer)
            sources: dict[str, str] = {}
            for art in self.src.artifacts(step.layer):
                sources.update(art.meta.get("sources", {}))
            pairs = [(staging / arc, Path(dest)) for arc, dest in sorted(sources.items())]
            detail = {"items": put_back_all(pairs, self.tag, step.name)}
        if self.staging_root.joinpath(step.layer).exists():
            shutil.rmtree(self.staging_root / step.layer)
        detail["commands"] = run_commands(step.layer, step.commands, self.rcfg.command_timeout)
        return detail

    def postgres(self, step: PlannedStep) -> dict[str, Any]:
        """Roles and databases through the postgres layer, one database at a time.

        Before the first attempt acts, the databases present are journaled. A database
        holding someone else's data is renamed `<name>_before_restore_<tag>` (the new name
        journaled before the rename). On a retry, a database this recovery created, filled
        while empty, or whose original is already aside, is dropped and restored again.
        """
        live = postgres_dsn(self.settings)
        assert live is not None
        dsn = pgsite.admin_dsn(live)
        arts = self.src.artifacts("postgres")
        wanted = pgsite.dumped_databases(arts)
        rec = self.journal.steps[step.name]
        existing = pgsite.list_databases(dsn)
        if "preexisting" not in rec.notes:
            empty = [db for db in wanted if db in existing and database_state(dsn, db) == "empty"]
            self.journal.note(
                step.name, preexisting=sorted(existing & set(wanted)), adopted=sorted(empty)
            )
        ours = set(wanted) - set(rec.notes["preexisting"]) | set(rec.notes["adopted"])
        asides: dict[str, str] = dict(rec.notes.get("aside", {}))
        redone = []
        for db in wanted:
            if db not in existing or database_state(dsn, db) != "data":
                continue
            if db in ours or asides.get(db) in existing:
                pgsite.drop_own(dsn, db)  # our own half-restored copy
                redone.append(db)
            else:
                asides[db] = f"{db}_before_restore_{self.tag}"[:63]
                self.journal.note(step.name, aside=asides)
                pgsite.rename_aside(dsn, db, asides[db])
        env = layer_env(self.settings, self.src.config)
        handler = build_handler(self.settings, "postgres", env)
        results = []
        for db in wanted:
            options = RestoreOptions(
                target=self.staging_root, params={"dsn": dsn, "databases": [db]}
            )
            out = handler.restore(arts, options)
            results.extend(out.detail.get("databases", []))
            crash_point(step.name)
        return {
            "target": pgsite.where(dsn),
            "databases": results,
            "moved_aside": asides,
            "redone": redone,
        }

    def reboot(self, step: PlannedStep) -> dict[str, Any] | str:
        notes = self.journal.steps[step.name].notes
        if "campaign" in notes:
            return {"campaign": notes["campaign"], "note": "started by an earlier attempt"}
        try:
            from fleet.service.client import service_running, start_reboot
        except ImportError:
            return NO_SERVICE
        ctx = self.context()
        if not ctx.registry.list_nodes():
            return "skipped: no registered node"
        if not service_running(ctx):
            return NO_SERVICE
        camp = start_reboot(ctx, {"all": True, "after_restore": True}, wait=False)
        self.journal.note(step.name, campaign=camp.id)
        crash_point(step.name)
        return {"campaign": camp.id, "targets": len(camp.targets), "state": camp.state}

    def station(self, step: PlannedStep) -> dict[str, Any]:
        ctx = self.context()
        nodes = ctx.registry.list_nodes()
        need = sorted(n.uid for n in nodes if n.state != "ONLINE")
        detail: dict[str, Any] = {"nodes": len(nodes)}
        campaign = self.journal.steps["reboot"].notes.get("campaign")
        if campaign is not None:
            from fleet.service.campaign_store import CampaignStore

            rep = CampaignStore(ctx.registry).get(int(campaign)).report()
            if rep.finished:
                need = sorted({*rep.silent, *rep.no_answer, *rep.refused})
            else:
                detail["note"] = (
                    f"reboot campaign {campaign} still running: see `fleet campaigns show "
                    f"{campaign}`; listed are the nodes not ONLINE right now"
                )
        crash_point(step.name)
        detail["need_station"] = need
        return detail

    def run(self, step: PlannedStep) -> dict[str, Any] | str:
        if step.kind == LAYER:
            return self.layer(step)
        if step.kind == REBOOT:
            return self.reboot(step)
        return self.station(step)


def _audit(runner: _Runner, plan: list[PlannedStep], error: FleetError | None) -> None:
    """One audit record per run (in the restored registry; none when there is no registry)."""
    journal = runner.journal
    detail = {
        "snapshot": journal.snapshot,
        "steps": {p.name: journal.steps[p.name].state for p in plan},
        "seconds": journal.total_seconds,
    }
    if error is not None:
        detail["error"] = error.message
    with contextlib.suppress(FleetError):
        runner.context().registry.audit(
            "site.recover", outcome="failed" if error else "ok", detail=detail
        )


def recover_site(
    settings: Settings,
    snapshot: str | None = None,
    progress: StepProgress | None = None,
    before_start: Callable[[SitePlan], None] | None = None,
    only: Collection[str] | None = None,
) -> SiteReport:
    """Recover the whole site from `snapshot`, resuming a journaled run.

    `snapshot` None or `latest`: the snapshot of an unfinished recovery if there is one
    (`unfinished_snapshot`), else the newest.

    Steps already done are not redone; the step an interrupted run was in is redone from its
    start (idempotently). The first failing step stops the run: its error is in the report,
    the journal keeps it as `failed`, and running again retries it. `before_start(plan)` is
    called before anything changes (the CLI asks for confirmation there). `only` limits the
    run to those steps (e.g. a lost broker: `mosquitto`, `reboot`, `station`); the others are
    left pending in the journal, untouched. `UsageError` for an unknown step name.
    """
    if only:
        unknown = sorted(set(only) - set(step_names()))
        if unknown:
            raise UsageError(f"unknown step(s) {', '.join(unknown)}; steps: {step_names()}")
    src = open_source(settings, _choose(settings, snapshot))
    plan = [p for p in _plan(src) if not only or p.name in only]
    journal = _journal(src)
    resumed = journal.runs > 0
    if before_start is not None:
        states = {k: v.state for k, v in journal.steps.items()}
        before_start(SitePlan(src.snapshot, src.manifest.finished_at, plan, states))
    journal.runs += 1
    journal.save()
    runner = _Runner(src, journal)
    error: FleetError | None = None
    for step in plan:
        if journal.steps[step.name].state in FINAL:
            continue
        if progress:
            progress.step_started(step.name, step.title)
        if step.skip:
            journal.skip(step.name, step.skip)
        else:
            journal.begin(step.name)
            try:
                outcome = runner.run(step)
            except FleetError as exc:
                journal.fail(step.name, exc.message)
                error = exc
            else:
                if isinstance(outcome, str):
                    journal.skip(step.name, outcome)
                else:
                    journal.finish(step.name, outcome)
        rec = journal.steps[step.name]
        if progress:
            progress.step_finished(step.name, rec.state, rec.seconds)
        if error is not None:
            break
    if error is None:
        shutil.rmtree(runner.staging_root, ignore_errors=True)
    _audit(runner, plan, error)
    recs = [(step, journal.steps[step.name]) for step in plan]
    steps = [
        StepReport(r.name, st.title, r.state, r.seconds, r.attempts, r.detail, r.error)
        for st, r in recs
    ]
    return SiteReport(
        snapshot=src.snapshot,
        ok=error is None and all(journal.steps[p.name].state in FINAL for p in plan),
        resumed=resumed,
        total_seconds=journal.total_seconds,
        journal=str(journal.path),
        steps=steps,
        error=error.message if error else None,
        exit_code=error.exit_code if error else 0,
    )
