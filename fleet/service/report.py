"""Reboot campaign targets and the final report (pure).

A target moves PENDING -> SENT -> DONE -> BACK, or ends as SILENT (answered DONE but
no fresh heartbeat/status within the back timeout), NO_ANSWER (no response after the
retry), or REFUSED (ERROR/INVALID/BUSY, with the node's error_code).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field


class Outcome(enum.StrEnum):
    """Where one node of a campaign stands."""

    PENDING = "pending"
    SENT = "sent"
    DONE = "done"  # answered DONE, not seen back yet
    BACK = "back"
    SILENT = "silent"
    NO_ANSWER = "no_answer"
    REFUSED = "refused"


FINAL = frozenset({Outcome.BACK, Outcome.SILENT, Outcome.NO_ANSWER, Outcome.REFUSED})
REFUSING_STATUSES = frozenset({"ERROR", "INVALID", "BUSY", "NO_EFFECT"})


@dataclass(frozen=True, slots=True)
class TargetView:
    """One campaign target as reported."""

    uid: str
    outcome: Outcome
    attempts: int = 0
    error_code: str | None = None
    status: str | None = None


@dataclass
class CampaignReport:
    """The final (or current) tally of a campaign; lists are sorted node uids."""

    back: list[str] = field(default_factory=list)
    silent: list[str] = field(default_factory=list)
    no_answer: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # uid -> error_code or status
    in_progress: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """True when every target reached a final outcome."""
        return not self.in_progress

    def counts(self) -> dict[str, int]:
        """Number of nodes per report bucket."""
        return {
            "back": len(self.back),
            "silent": len(self.silent),
            "no_answer": len(self.no_answer),
            "refused": len(self.refused),
            "in_progress": len(self.in_progress),
        }


def build_report(targets: Iterable[TargetView]) -> CampaignReport:
    """Sort targets into the report's buckets."""
    rep = CampaignReport()
    for t in targets:
        if t.outcome == Outcome.BACK:
            rep.back.append(t.uid)
        elif t.outcome == Outcome.SILENT:
            rep.silent.append(t.uid)
        elif t.outcome == Outcome.NO_ANSWER:
            rep.no_answer.append(t.uid)
        elif t.outcome == Outcome.REFUSED:
            rep.refused[t.uid] = t.error_code or t.status or "refused"
        else:
            rep.in_progress.append(t.uid)
    for lst in (rep.back, rep.silent, rep.no_answer, rep.in_progress):
        lst.sort()
    rep.refused = dict(sorted(rep.refused.items()))
    return rep


# refusals that a later attempt can overcome (the service answers the node's time request)
TRANSIENT_CODES = frozenset({"time_not_synced"})


def on_response(
    outcome: Outcome,
    status: str,
    error_code: str | None = None,
    attempts: int = 0,
    max_attempts: int = 1,
) -> Outcome:
    """The outcome after a command_response with `status` (ACK keeps the target waiting).

    A transient refusal (`time_not_synced`) sends the target back to PENDING while
    attempts remain.
    """
    if outcome in FINAL:
        return outcome
    if status == "DONE":
        return Outcome.DONE
    if status in REFUSING_STATUSES:
        if error_code in TRANSIENT_CODES and attempts < max_attempts:
            return Outcome.PENDING
        return Outcome.REFUSED
    return outcome


def on_timeout(outcome: Outcome, attempts: int, max_attempts: int) -> Outcome:
    """The outcome when a sent command got no final answer in time: retry, then NO_ANSWER."""
    if outcome != Outcome.SENT:
        return outcome
    return Outcome.PENDING if attempts < max_attempts else Outcome.NO_ANSWER
