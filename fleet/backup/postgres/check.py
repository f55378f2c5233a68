"""`fleet backup check`: is the live cluster's WAL archiving set up, and does it work?

Reads `archive_mode`, `archive_command`, `archive_timeout` (the seed's RPO of 15 minutes is
`archive_timeout = 900`), `wal_level` and the archiver's failure counters, then writes one
WAL record (`pg_logical_emit_message`, no table needed), forces a segment switch and waits
until that segment is in the repository's archive: the proof that archiving really works.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from fleet.backup.postgres.dump import connect, redacted
from fleet.backup.postgres.wal import WalArchive

SEED_ARCHIVE_TIMEOUT = 900  # seconds: the seed's "WAL at least every 15 minutes"


@dataclass(frozen=True)
class Check:
    """One fact checked: its value, what is wanted, and whether it passed."""

    name: str
    ok: bool
    value: str
    expected: str
    detail: str = ""


@dataclass
class CheckReport:
    """All checks of one cluster; `segment`/`seconds`: the switched segment and its delay."""

    server: str
    checks: list[Check] = field(default_factory=list)
    segment: str | None = None
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.ok]


def _settings(conn: psycopg.Connection[Any]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT name, setting FROM pg_settings WHERE name IN"
        " ('archive_mode', 'archive_command', 'archive_timeout', 'wal_level')"
    ).fetchall()
    return {str(k): str(v) for k, v in rows}


def static_checks(conf: dict[str, str], archiver: tuple[Any, ...] | None) -> list[Check]:
    """Checks of the settings alone (pure: no server needed)."""
    mode = conf.get("archive_mode", "off")
    command = conf.get("archive_command", "")
    timeout = int(conf.get("archive_timeout", "0") or 0)
    level = conf.get("wal_level", "")
    out = [
        Check("archive_mode", mode in ("on", "always"), mode, "on"),
        Check(
            "archive_command",
            "wal push" in command,
            command or "(empty)",
            "fleet ... wal push %p",
            "" if "wal push" in command else "archive_command does not call `fleet wal push`",
        ),
        Check(
            "archive_timeout",
            0 < timeout <= SEED_ARCHIVE_TIMEOUT,
            f"{timeout}s",
            f"1..{SEED_ARCHIVE_TIMEOUT}s",
            "0 disables it: a quiet database may not archive for hours"
            if timeout == 0
            else ("longer than the 15-minute RPO" if timeout > SEED_ARCHIVE_TIMEOUT else ""),
        ),
        Check("wal_level", level in ("replica", "logical"), level, "replica"),
    ]
    if archiver is not None:
        failed, last_failed, failed_at, archived_at = archiver
        recent = failed_at is not None and (archived_at is None or failed_at > archived_at)
        out.append(
            Check(
                "archiver",
                not recent,
                f"{failed} failures" + (f", last {last_failed}" if last_failed else ""),
                "no failure since the last success",
                "the newest archive attempt failed; see the server log" if recent else "",
            )
        )
    return out


def check_archiving(
    dsn: str, archive: WalArchive, switch: bool = True, timeout: float = 60.0
) -> CheckReport:
    """Check the cluster at `dsn` archives into `archive`; with `switch`, prove it live.

    Never raises for a failed check (see `CheckReport.ok`); MissingPrerequisite when the
    server cannot be reached.
    """
    report = CheckReport(server=redacted(dsn))
    with connect(dsn) as conn:
        conf = _settings(conn)
        archiver = conn.execute(
            "SELECT failed_count, last_failed_wal, last_failed_time, last_archived_time"
            " FROM pg_stat_archiver"
        ).fetchone()
        report.checks.extend(static_checks(conf, archiver))
        if not switch:
            return report
        if not report.ok:
            report.checks.append(
                Check("segment arrives", False, "not tried", "archived", "fix the above first")
            )
            return report
        try:
            conn.execute("SELECT pg_logical_emit_message(false, 'fleet-backup-check', 'ping')")
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        except psycopg.Error as exc:
            report.checks.append(
                Check("segment arrives", False, "switch refused", "archived", str(exc).strip())
            )
            return report
    name = str(row[0]) if row else ""
    report.segment = name
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if archive.lookup(name) is not None:
            report.seconds = round(time.monotonic() - started, 2)
            report.checks.append(
                Check("segment arrives", True, f"{name} in {report.seconds}s", "archived")
            )
            return report
        time.sleep(0.2)
    report.checks.append(
        Check(
            "segment arrives",
            False,
            f"{name} not archived after {timeout:.0f}s",
            "archived",
            f"not in {archive.root}; see pg_stat_archiver and the server log",
        )
    )
    return report
