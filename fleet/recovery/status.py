"""`fleet status`: the seed's recovery checklist as live facts.

Each fact is read from the repository (ids, manifests, verify records: no artifact is
decrypted; the newest full backup is the newest complete snapshot whose last verification,
if any, passed), the WAL archive marks, the drill records and the live broker config. A fact is
`ok` (True), a problem (False), or not applicable (None, e.g. no PostgreSQL layer set up).
Limits come from `[status]` (defaults: a daily backup, the seed's 15-minute WAL timeout,
a monthly drill, the seed's 30-minute RTO).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pydantic

from fleet.backup.layers.mosquitto import parse_config
from fleet.backup.manifest import Manifest
from fleet.backup.postgres.wal import WalArchive
from fleet.backup.prune import snapshot_infos
from fleet.backup.repository import Repository
from fleet.backup.retention import has_rules
from fleet.backup.settings import backup_settings
from fleet.errors import FleetError
from fleet.recovery.drill import last_drill
from fleet.settings import Settings


class StatusSettings(pydantic.BaseModel):
    """`[status]`: the ages and durations above which a fact counts as a problem."""

    model_config = pydantic.ConfigDict(extra="ignore")
    max_backup_age_hours: float = 26.0
    max_wal_age_minutes: float = 20.0
    max_drill_age_days: float = 31.0
    rto_target_minutes: float = 30.0


@dataclass
class Fact:
    """One line of the checklist."""

    name: str
    ok: bool | None
    value: str
    age_seconds: float | None = None


@dataclass
class SiteStatus:
    """Every fact; `ok` when none is a problem."""

    facts: list[Fact] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no fact is a problem."""
        return all(f.ok is not False for f in self.facts)


def _age(ts: str, now: dt.datetime) -> float | None:
    try:
        when = dt.datetime.fromisoformat(ts)
    except ValueError:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return round((now - when).total_seconds(), 1)


def human(seconds: float | None) -> str:
    """`3 h 12 min`-style duration (or `?`)."""
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _backup_facts(
    settings: Settings, lim: StatusSettings, now: dt.datetime
) -> tuple[list[Fact], Manifest | None]:
    cfg = backup_settings(settings)
    repo = Repository(cfg.repository_path(settings.home))
    infos = sorted(snapshot_infos(repo), key=lambda i: i.taken_at)
    usable = [i for i in infos if i.complete and i.verified is not False]
    man = repo.manifest(usable[-1].id) if usable else None
    if not usable:
        why = "none complete and intact" if infos else "no snapshot yet"
        facts = [Fact("newest full backup", False, f"{why} ({len(infos)} snapshots)")]
    else:
        newest = usable[-1]
        age = round((now - newest.taken_at).total_seconds(), 1)
        ok = age <= lim.max_backup_age_hours * 3600
        checked = {True: "verified", None: "not verified since written"}[newest.verified]
        text = f"{newest.id}, {human(age)} old, {checked}"
        facts = [Fact("newest full backup", ok, text, age)]
    pol = cfg.retention
    rules = {k: v for k, v in pol.model_dump().items() if v}
    text = ", ".join(f"{k} {v}" for k, v in rules.items()) or "none set (nothing is deleted)"
    facts.append(Fact("retention in force", True if has_rules(pol) else None, text))
    return facts, man


def _wal_fact(settings: Settings, lim: StatusSettings, now: dt.datetime) -> Fact:
    name = "newest archived WAL"
    if settings.raw_section("layers.postgres") is None:
        return Fact(name, None, "no [layers.postgres]: no database to archive")
    try:
        newest = WalArchive.from_settings(settings).newest()
    except FleetError as exc:
        return Fact(name, False, exc.message)
    if newest is None:
        return Fact(name, False, "nothing archived: point-in-time recovery is impossible")
    age = _age(newest.archived_at, now)
    ok = age is not None and age <= lim.max_wal_age_minutes * 60
    return Fact(name, ok, f"{newest.name}, {human(age)} old", age)


def _drill_fact(settings: Settings, lim: StatusSettings, now: dt.datetime) -> Fact:
    report = last_drill(settings)
    if report is None:
        return Fact("last drill", False, "never: run `fleet drill`")
    age = _age(report.finished_at, now)
    fresh = age is not None and age <= lim.max_drill_age_days * 86400
    fast = report.rto_seconds <= lim.rto_target_minutes * 60
    result = "passed" if report.ok else "FAILED"
    text = (
        f"{result} {human(age)} ago on {report.snapshot}, RTO {report.rto_seconds:.0f} s "
        f"(target {lim.rto_target_minutes:.0f} min), RPO {human(report.rpo_seconds)}"
    )
    return Fact("last drill", report.ok and fresh and fast, text, age)


def _coverage_facts(settings: Settings, man: Manifest | None) -> list[Fact]:
    if man is None:
        why = "no verified snapshot"
        return [
            Fact("secrets covered", False, why),
            Fact("OTA files covered", False, why),
            Fact("broker ACL/passwd covered", False, why),
        ]
    facts = []
    ok = {n for n, rec in man.layers.items() if rec.status == "ok"}
    if "fleet" in ok:
        counts: dict[str, int] = {}
        for art in man.layer_artifacts("fleet"):
            counts.update(art.meta.get("row_counts", {}))
        n = counts.get("vault_records")
        text = f"{n} vault records (node secrets, NVS escrow)" if n is not None else "fleet layer"
        facts.append(Fact("secrets covered", True, f"{text} in {man.id}"))
    else:
        facts.append(Fact("secrets covered", False, f"fleet layer not in {man.id}"))
    if settings.raw_section("layers.laravel") is None and "laravel" not in man.layers:
        facts.append(Fact("OTA files covered", None, "no [layers.laravel]"))
    elif "laravel" in ok:
        files = [
            f
            for art in man.layer_artifacts("laravel")
            for f in art.meta.get("files", [])
            if f["type"] == "file" and f["path"].startswith("storage/app/ota/")
        ]
        facts.append(Fact("OTA files covered", True, f"{len(files)} files in {man.id}"))
    else:
        facts.append(Fact("OTA files covered", False, f"laravel layer not good in {man.id}"))
    facts.append(_broker_fact(settings, man, ok))
    facts.append(_paths_fact(settings, man, ok, "docker", "Docker volumes covered", "volumes/"))
    facts.append(
        _paths_fact(settings, man, ok, "python_service", "Python secrets covered", "secrets/")
    )
    envs = [
        f"{layer} .env"
        for layer in ("laravel", "python_service")
        if layer in ok and ".env" in _held(man, layer)
    ]
    wanted = [n for n in ("laravel", "python_service") if settings.raw_section(f"layers.{n}")]
    facts.append(
        Fact(
            ".env files covered",
            (len(envs) >= len(wanted)) if wanted else None,
            ", ".join(envs) or "no .env in the snapshot",
        )
    )
    return facts


def _held(man: Manifest, layer: str) -> set[str]:
    return {f["path"] for art in man.layer_artifacts(layer) for f in art.meta.get("files", [])}


def _paths_fact(
    settings: Settings, man: Manifest, ok: set[str], layer: str, name: str, prefix: str
) -> Fact:
    if settings.raw_section(f"layers.{layer}") is None and layer not in man.layers:
        return Fact(name, None, f"no [layers.{layer}]")
    if layer not in ok:
        return Fact(name, False, f"{layer} layer not good in {man.id}")
    tops = sorted(
        {p[len(prefix) :].split("/")[0] for p in _held(man, layer) if p.startswith(prefix)}
    )
    return Fact(name, bool(tops), f"{', '.join(tops) or 'nothing'} in {man.id}")


def _broker_fact(settings: Settings, man: Manifest, ok: set[str]) -> Fact:
    name = "broker ACL/passwd covered"
    raw = settings.raw_section("layers.mosquitto")
    if raw is None and "mosquitto" not in man.layers:
        return Fact(name, None, "no [layers.mosquitto]")
    if "mosquitto" not in ok:
        return Fact(name, False, f"mosquitto layer not good in {man.id}")
    held = {
        f["path"] for art in man.layer_artifacts("mosquitto") for f in art.meta.get("files", [])
    }
    try:
        conf = Path(str((raw or {}).get("config", "/etc/mosquitto/mosquitto.conf")))
        cfg = parse_config(conf)
        needed = [p for p in cfg.files if p.name and ("passw" in p.name or "acl" in p.name)]
        needed = needed or list(cfg.files)
    except OSError:
        return Fact(name, True, f"{len(held)} broker files in {man.id} (live config unreadable)")
    missing = [str(p) for p in needed if p.absolute().as_posix().lstrip("/") not in held]
    if missing:
        return Fact(name, False, f"not in {man.id}: {', '.join(missing)}")
    return Fact(name, True, f"{', '.join(p.name for p in needed) or 'config'} in {man.id}")


def site_status(settings: Settings, now: dt.datetime | None = None) -> SiteStatus:
    """Every checklist fact for the data directory of `settings`."""
    when = now or dt.datetime.now(dt.UTC)
    lim = settings.section("status", StatusSettings)
    status = SiteStatus()
    try:
        facts, man = _backup_facts(settings, lim, when)
    except FleetError as exc:
        status.facts.append(Fact("newest full backup", False, exc.message))
        man = None
    else:
        status.facts.extend(facts)
    status.facts.append(_wal_fact(settings, lim, when))
    status.facts.append(_drill_fact(settings, lim, when))
    status.facts.extend(_coverage_facts(settings, man))
    return status
