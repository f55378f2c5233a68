"""`fleet recover nodes`: re-register every node with the backend after a total loss.

The campaign sends one registration per registered node through `Retrying(Paced(Http))`
(see `fleet.reregister.backend`), settles each node's secret (`fleet.reregister.settle`),
journals each outcome (`fleet.reregister.journal`) so a re-run skips what is done, audits every
node, builds the NVS images still missing, and returns the station queue grouped by chip. A
401 stops the run at once with `BackendUnauthorized`; no node is marked registered by a
refused request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fleet.context import FleetContext
from fleet.errors import FleetError
from fleet.nvs.escrow import IMAGE_KIND, build_all
from fleet.registry.node import Node
from fleet.reregister.backend import (
    Answer,
    BackendUnauthorized,
    BackendUnreachable,
    Counters,
    HttpRegistrar,
    PacedRegistrar,
    Registrar,
    RetryingRegistrar,
    RetryPolicy,
)
from fleet.reregister.body import answer_secret, answer_uid, registration_body
from fleet.reregister.journal import FAILED, REGISTERED, ROTATED, RegJournal, journal_path
from fleet.reregister.pacing import safe_rate
from fleet.reregister.plan import StationEntry, station_queue
from fleet.reregister.settings import BackendSettings
from fleet.reregister.settle import ADOPTED, LOST, ROTATED_SECRET, settle_secret
from fleet.vault.store import NODE_SECRET


class RegProgress(Protocol):
    """Progress callbacks (a rich bar in the CLI)."""

    def started(self, total: int, done: int, eta: float) -> None: ...

    def node_done(self, uid: str, result: str, eta: float, counters: Counters) -> None: ...


@dataclass
class ReregisterReport:
    """The outcome of a run; `exit_code` is 0 only when every node is registered."""

    backend: str
    journal: Path
    nodes: int
    registered: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    secrets_adopted: list[str] = field(default_factory=list)
    secrets_rotated: list[str] = field(default_factory=list)
    secrets_lost: list[str] = field(default_factory=list)
    nvs_rebuilt: int = 0
    nvs_failed: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    retries: int = 0
    elapsed: float = 0.0
    station_queue: dict[str, list[StationEntry]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """75 (try again) when nodes failed, 65 when secrets are lost or NVS not built, else 0."""
        if self.failed:
            return 75
        if self.secrets_lost or self.nvs_failed:
            return 65
        return 0


def build_registrar(
    cfg: BackendSettings, token: str, counters: Counters
) -> tuple[Registrar, HttpRegistrar]:
    """(Retrying(Paced(Http)), the Http layer to close) from the `[backend]` settings."""
    assert cfg.url is not None
    http = HttpRegistrar(cfg.url, token, cfg.timeout, counters)
    paced = PacedRegistrar(
        http, cfg.per_ip_per_min, cfg.per_identity_per_min, cfg.window_seconds, cfg.pacing_slack
    )
    policy = RetryPolicy(cfg.max_attempts, cfg.backoff_base, cfg.backoff_max)
    return RetryingRegistrar(paced, policy, counters, cfg.url), http


class _Campaign:
    """One run: the workers, and what each answer does to the vault, journal and audit log."""

    def __init__(
        self,
        ctx: FleetContext,
        cfg: BackendSettings,
        journal: RegJournal,
        registrar: Registrar,
        counters: Counters,
        report: ReregisterReport,
        rotate_lost: bool,
        progress: RegProgress | None,
    ) -> None:
        assert cfg.url is not None
        self.ctx, self.cfg, self.journal = ctx, cfg, journal
        self.url = cfg.url
        self.registrar, self.counters, self.report = registrar, counters, report
        self.rotate_lost, self.progress = rotate_lost, progress
        self.unreachable_in_a_row = 0
        self.answered = False
        self.give_up_after = 3
        self.rebuilt: set[str] = set()
        self.remaining = 0

    def eta(self) -> float:
        rate = safe_rate(self.cfg.per_ip_per_min, self.cfg.window_seconds, self.cfg.pacing_slack)
        return self.remaining / rate

    async def run(self, todo: list[Node]) -> None:
        self.remaining = len(todo)
        queue: asyncio.Queue[Node] = asyncio.Queue()
        for node in todo:
            queue.put_nowait(node)
        workers = max(1, min(self.cfg.concurrency, len(todo)))
        # nothing answered for this many nodes in a row: the backend is down, not a node
        self.give_up_after = min(len(todo), max(3, workers))
        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(workers):
                    tg.create_task(self._worker(queue), name=f"reregister-{i}")
        except* FleetError as group:
            raise group.exceptions[0] from None

    async def _worker(self, queue: asyncio.Queue[Node]) -> None:
        while not queue.empty():
            node = queue.get_nowait()
            identity, body = registration_body(node, self.cfg.mode)
            try:
                answer = await self.registrar.register(identity, body)
            except BackendUnreachable as exc:
                self.unreachable_in_a_row += 1
                if not self.answered and self.unreachable_in_a_row >= self.give_up_after:
                    raise
                self._failed(node, None, exc.detail, self.cfg.max_attempts)
                continue
            self.unreachable_in_a_row = 0
            self.answered = True
            self._answered(node, answer)

    def _answered(self, node: Node, answer: Answer) -> None:
        if not answer.ok:
            self._failed(node, answer.status, answer.reason or "", answer.attempts)
            return
        upstream_uid = answer_uid(answer.data)
        if upstream_uid and upstream_uid != node.uid:
            reason = f"backend holds hardware_id {node.hardware_id} as node {upstream_uid}"
            self._failed(node, answer.status, reason, answer.attempts)
            return
        try:
            secret = answer_secret(answer.data)
        except FleetError as exc:
            self._failed(node, answer.status, exc.message, answer.attempts)
            return
        settled = settle_secret(
            self.ctx, self.journal, node.uid, secret, self.rotate_lost, self.url
        )
        self._note_secret(node.uid, settled.secret, settled.nvs_rebuilt, settled.nvs_error)
        self.journal.append(
            REGISTERED,
            node.uid,
            status=answer.status,
            secret=settled.secret,
            attempts=answer.attempts,
        )
        self.ctx.registry.audit(
            "reregister",
            node_uid=node.uid,
            detail={
                "backend": self.url,
                "status": answer.status,
                "attempts": answer.attempts,
                "secret": settled.secret,
                "nvs_rebuilt": settled.nvs_rebuilt,
            },
        )
        self.report.registered.append(node.uid)
        self._tick(node.uid, REGISTERED)

    def _note_secret(self, uid: str, secret: str, rebuilt: bool, error: str | None) -> None:
        if secret == ADOPTED:
            self.report.secrets_adopted.append(uid)
        elif secret == ROTATED_SECRET:
            self.report.secrets_rotated.append(uid)
        elif secret == LOST:
            self.report.secrets_lost.append(uid)
        self.report.nvs_rebuilt += rebuilt
        if rebuilt:
            self.rebuilt.add(uid)
        if error:
            self.report.nvs_failed.append({"uid": uid, "reason": error})

    def _failed(self, node: Node, status: int | None, reason: str, attempts: int) -> None:
        self.journal.append(FAILED, node.uid, status=status, reason=reason, attempts=attempts)
        self.ctx.registry.audit(
            "reregister",
            node_uid=node.uid,
            outcome="error",
            detail={"backend": self.url, "status": status, "reason": reason, "attempts": attempts},
        )
        self.report.failed.append(
            {"uid": node.uid, "status": status, "reason": reason, "attempts": attempts}
        )
        self._tick(node.uid, FAILED)

    def _tick(self, uid: str, result: str) -> None:
        self.remaining -= 1
        if self.progress is not None:
            self.progress.node_done(uid, result, self.eta(), self.counters)

    def settle_earlier(self, nodes: list[Node]) -> None:
        """Nodes registered by an earlier run whose secret was lost: rotate now if asked."""
        have = {i.subject for i in self.ctx.vault.history(NODE_SECRET)}
        for node in nodes:
            if node.uid in have:
                continue
            if not self.rotate_lost:
                self.report.secrets_lost.append(node.uid)
                continue
            settled = settle_secret(self.ctx, self.journal, node.uid, None, True, self.url)
            self._note_secret(node.uid, settled.secret, settled.nvs_rebuilt, settled.nvs_error)
            self.journal.append(ROTATED, node.uid, secret=settled.secret)


def _build_images(
    ctx: FleetContext, nodes: list[Node], report: ReregisterReport, every: bool, done: set[str]
) -> None:
    """Escrow an image for every node with a secret but no image (`every`: all but `done`)."""
    with_secret = {i.subject for i in ctx.vault.history(NODE_SECRET)}
    with_image = set(done) if every else {i.subject for i in ctx.vault.history(IMAGE_KIND)}
    missing = [n for n in nodes if n.uid in with_secret and n.uid not in with_image]
    if not missing:
        return
    result = build_all(ctx, nodes=missing)
    report.nvs_rebuilt += result.built
    report.nvs_failed.extend({"uid": uid, "reason": why} for uid, why in result.failures)


async def _close(http: HttpRegistrar | None) -> None:
    if http is not None:
        await http.aclose()


def reregister(
    ctx: FleetContext,
    cfg: BackendSettings,
    token: str,
    *,
    rotate_lost: bool = False,
    fresh: bool = False,
    rebuild_nvs: bool = False,
    progress: RegProgress | None = None,
    registrar: Registrar | None = None,
) -> ReregisterReport:
    """Re-register every registered node not registered by an earlier run; see module doc.

    Raises BackendUnauthorized (401: stops at once) and BackendUnreachable (the backend
    never answered at all). `registrar` replaces the HTTP stack (tests, dry runs).
    `rebuild_nvs` rebuilds every node's image at the end (e.g. site values changed), not
    only the missing ones.
    """
    assert cfg.url is not None
    start = time.monotonic()
    counters = Counters()
    journal = RegJournal.open(journal_path(ctx.home, cfg.url), fresh=fresh)
    journal.append("run", rotate_lost=rotate_lost)
    nodes = ctx.registry.list_nodes()
    report = ReregisterReport(cfg.url, journal.path, len(nodes))
    todo = [n for n in nodes if not journal.done(n.uid)]
    report.already = sorted(n.uid for n in nodes if journal.done(n.uid))
    http: HttpRegistrar | None = None
    if registrar is None:
        registrar, http = build_registrar(cfg, token, counters)
    campaign = _Campaign(ctx, cfg, journal, registrar, counters, report, rotate_lost, progress)
    campaign.settle_earlier([n for n in nodes if journal.done(n.uid)])
    if progress is not None:
        campaign.remaining = len(todo)
        progress.started(len(nodes), len(nodes) - len(todo), campaign.eta())

    async def main() -> None:
        try:
            await campaign.run(todo)
        finally:
            await _close(http)

    try:
        # main() closes the pool; with nothing to send it only closes it
        asyncio.run(main() if todo else _close(http))
    except (BackendUnauthorized, BackendUnreachable) as exc:
        ctx.registry.audit(
            "reregister.run",
            outcome="error",
            detail={"backend": cfg.url, "error": exc.message, "requests": counters.requests},
        )
        raise
    _build_images(ctx, nodes, report, rebuild_nvs, campaign.rebuilt)
    report.requests, report.throttled = counters.requests, counters.throttled
    report.server_errors, report.retries = counters.server_errors, counters.retries
    report.elapsed = round(time.monotonic() - start, 3)
    report.station_queue = station_queue(ctx, nodes)
    ctx.registry.audit(
        "reregister.run",
        outcome="ok" if report.exit_code == 0 else "partial",
        detail={
            "backend": cfg.url,
            "registered": len(report.registered),
            "already": len(report.already),
            "failed": len(report.failed),
            "adopted": len(report.secrets_adopted),
            "rotated": len(report.secrets_rotated),
            "lost": len(report.secrets_lost),
            "requests": report.requests,
            "throttled": report.throttled,
            "elapsed": report.elapsed,
        },
    )
    return report
