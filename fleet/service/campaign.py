"""Runs a reboot campaign: paced signed `reboot`s, answers, then waiting for nodes to return.

The runner is resumable: everything it learns is written to the `CampaignStore` in
batches, and a campaign loaded after a restart carries on from its targets' outcomes
(targets that were SENT when the service died are sent again with a new cmd_id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from fleet.errors import BrokerError, FleetError
from fleet.service.campaign_store import FINISHED, RUNNING, Campaign, CampaignStore, Target
from fleet.service.commands import TIMEOUT, CommandResult, CommandSender
from fleet.service.liveness import Liveness
from fleet.service.pacing import plan
from fleet.service.report import Outcome, on_response, on_timeout

log = logging.getLogger(__name__)

# A heartbeat's uptime is whole seconds, so seen_at - uptime is at or after the real boot;
# the firmware restarts ~1 s after answering DONE. Requiring the estimate to be half a
# second past DONE (0.2 s) keeps a node that booted just *before* the command from counting.
BOOT_MARGIN = 0.2
# Connect messages (status, config_report) that trail DONE by less than this still come
# from the connection the node had when it answered: the firmware restarts ~1 s later.
CONNECT_MARGIN = 0.25
PROGRESS_EVERY = 5.0
RETRY_DELAY = 1.0  # seconds before a retry round  # seconds between progress log lines
PRIOR_MARGIN = 1.5  # boot estimates of one boot differ by up to ~1 s (whole-second uptime)


def boot_estimate(liveness: Liveness, uid: str) -> float | None:
    """When `uid` booted, from its last heartbeat's uptime (None when unknown)."""
    node = liveness.get(uid)
    if node is None or node.seen_at is None or node.uptime is None:
        return None
    return node.seen_at - node.uptime


def came_back(
    liveness: Liveness, uid: str, done_at: float, prior_boot: float | None = None
) -> bool:
    """True when `uid` shows a boot after `done_at`.

    Evidence: a connect message (status, config_report) clearly after DONE; or a heartbeat whose
    boot estimate moved past the one known before the command (`prior_boot`, which
    survives a restart of the service); or, without that, a boot estimate after DONE.
    """
    node = liveness.get(uid)
    if node is None or node.seen_at is None or node.seen_at <= done_at:
        return False
    if node.boot_at is not None and node.boot_at > done_at + CONNECT_MARGIN:
        return True
    est = boot_estimate(liveness, uid)
    if est is None:
        return False
    if prior_boot is not None and est > prior_boot + PRIOR_MARGIN and est >= done_at - 1.0:
        return True
    return est >= done_at + BOOT_MARGIN


class CampaignRunner:
    """Drives one campaign to its report; `run()` returns the finished campaign."""

    def __init__(
        self,
        campaign: Campaign,
        store: CampaignStore,
        sender: CommandSender,
        liveness: Liveness,
        wait_connected: Callable[[], Awaitable[object]],
        flush_interval: float = 0.5,
        on_unsynced: Callable[[], None] | None = None,
    ) -> None:
        self.c = campaign
        self.store = store
        self.sender = sender
        self.liveness = liveness
        self.wait_connected = wait_connected
        self.flush_interval = flush_interval
        self.on_unsynced = on_unsynced
        self.dirty: dict[str, Target] = {}
        self.retry: list[str] = []
        self.inflight = 0
        self.resumed_at = time.time()

    def _touch(self, t: Target) -> None:
        self.dirty[t.uid] = t

    async def _flush(self) -> None:
        batch, self.dirty = list(self.dirty.values()), {}
        await asyncio.to_thread(self.store.save, self.c, batch)

    async def run(self) -> Campaign:
        """Wait for `not_before`, send in paced waves, follow every node, write the report."""
        c = self.c
        if c.not_before is not None and c.not_before > time.time():
            log.info("campaign %s: waiting %.0fs of grace", c.id, c.not_before - time.time())
            await asyncio.sleep(c.not_before - time.time())
        since = c.selector.get("only_unseen_since")
        if isinstance(since, int | float) and c.started_at is None:
            heard = [
                u
                for u in c.targets
                if (n := self.liveness.get(u)) is not None and (n.seen_at or 0) > since
            ]
            if heard:
                await asyncio.to_thread(self.store.drop_targets, c, heard)
                log.info("campaign %s: %d nodes heard since the restore left out", c.id, len(heard))
        for t in c.targets.values():
            if t.outcome == Outcome.SENT:
                # interrupted: the answer was lost by us, so that attempt does not count
                t.outcome = Outcome.PENDING
                t.attempts = max(0, t.attempts - 1)
                self._touch(t)
        c.state = RUNNING
        c.started_at = c.started_at or time.time()
        self.resumed_at = time.time()
        await self._flush()
        log.info("campaign %s: %d nodes at %.1f/s", c.id, len(c.targets), c.rate)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._send_all(), name=f"campaign-{c.id}-send")
                tg.create_task(self._follow(), name=f"campaign-{c.id}-follow")
        except asyncio.CancelledError:
            # stopped (SIGTERM): keep what the last half second learned for the resume
            if self.dirty:
                await asyncio.shield(self._flush())
            raise
        c.state = FINISHED
        c.finished_at = time.time()
        await self._flush()
        counts = c.report().counts()
        log.info("campaign %s finished: %s", c.id, counts)
        await asyncio.to_thread(
            self.store.registry.audit, "campaign.finish", detail={"campaign": c.id, **counts}
        )
        return c

    async def _send_all(self) -> None:
        c = self.c
        pending = sorted(
            (t for t in c.targets.values() if t.outcome == Outcome.PENDING), key=lambda t: t.seq
        )
        await self._send_paced([t.uid for t in pending], seed=c.seed)
        # retries (after a timeout) go out paced as well, until none are left
        round_ = 1
        while self.retry or self.inflight:
            if not self.retry:
                await asyncio.sleep(0.2)
                continue
            # let a time broadcast reach nodes that answered time_not_synced first
            await asyncio.sleep(RETRY_DELAY)
            batch, self.retry = self.retry, []
            await self._send_paced(batch, seed=c.seed + round_)
            round_ += 1

    async def _send_paced(self, uids: list[str], seed: int) -> None:
        start = time.monotonic()
        for slot in plan(uids, self.c.rate, self.c.jitter, seed):
            delay = start + slot.offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._send_one(self.c.targets[slot.uid])

    async def _send_one(self, t: Target) -> None:
        if t.sent_at is not None and came_back(self.liveness, t.uid, t.sent_at, t.prior_boot):
            # it got an earlier attempt and rebooted; only its DONE was lost
            t.outcome, t.done_at, t.back_at = Outcome.BACK, t.sent_at, time.time()
            self._touch(t)
            return
        while True:
            await self.wait_connected()
            try:
                sent = await self.sender.send(
                    t.uid, "reboot", {}, "system", timeout=self.c.command_timeout
                )
                break
            except BrokerError:
                await asyncio.sleep(0.2)
            except FleetError as exc:  # unknown node, no secret: cannot be sent at all
                t.outcome = Outcome.REFUSED
                t.error_code = getattr(exc, "error_code", None) or type(exc).__name__
                self._touch(t)
                return
        t.attempts += 1
        t.prior_boot = boot_estimate(self.liveness, t.uid) or t.prior_boot
        t.outcome = Outcome.SENT
        t.sent_at = time.time()
        t.cmd_id = sent.cmd_id
        self._touch(t)
        self.inflight += 1

        def done(f: asyncio.Future[CommandResult]) -> None:
            self._answered(t, f.result())

        sent.future.add_done_callback(done)

    def _answered(self, t: Target, r: CommandResult) -> None:
        self.inflight -= 1
        t.status = r.status
        if r.status == TIMEOUT:
            t.outcome = on_timeout(t.outcome, t.attempts, self.c.max_attempts)
            if t.outcome == Outcome.PENDING:
                self.retry.append(t.uid)
        else:
            t.outcome = on_response(
                t.outcome, r.status, r.error_code, t.attempts, self.c.max_attempts
            )
            t.error_code = r.error_code
            if t.outcome == Outcome.PENDING:
                self.retry.append(t.uid)
                if self.on_unsynced is not None:
                    self.on_unsynced()
            if t.outcome == Outcome.DONE:
                t.done_at = r.answered_at or time.time()
        self._touch(t)

    async def _follow(self) -> None:
        c = self.c
        next_log = time.monotonic() + PROGRESS_EVERY
        while True:
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + PROGRESS_EVERY
                log.info("campaign %s progress: %s", c.id, c.report().counts())
            now = time.time()
            open_ = 0
            for t in c.targets.values():
                if t.outcome == Outcome.DONE and t.done_at is not None:
                    if came_back(self.liveness, t.uid, t.done_at, t.prior_boot):
                        node = self.liveness.nodes[t.uid]
                        log.debug(
                            "campaign %s: %s back (done %.2f, seen %.2f, boot %s, uptime %s)",
                            c.id,
                            t.uid,
                            t.done_at,
                            node.seen_at or 0.0,
                            node.boot_at,
                            node.uptime,
                        )
                        t.outcome = Outcome.BACK
                        t.back_at = now
                        self._touch(t)
                    elif (
                        self.liveness.paused_at is None
                        and now - max(t.done_at, self.resumed_at, self.liveness.resumed_at)
                        > c.back_timeout
                    ):
                        # a node gets the whole back timeout while we can hear it
                        t.outcome = Outcome.SILENT
                        self._touch(t)
                    else:
                        open_ += 1
                elif not t.final:
                    open_ += 1
            if self.dirty:
                await self._flush()
            if open_ == 0:
                return
            await asyncio.sleep(self.flush_interval)
