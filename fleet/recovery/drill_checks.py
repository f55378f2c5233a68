"""Health checks of a drill: each proves one thing a real recovery relies on.

Every check reads only the drill's scratch space (restored folders, the throwaway cluster);
none touches the live site. Each returns `Check`s; a failing check never raises, it says
what is wrong, naming the layer, file, database, node or firmware.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from fleet.backup.layer import StoredArtifact
from fleet.backup.layers.mosquitto import FILE_KEYS
from fleet.backup.postgres.dump import connect, with_dbname
from fleet.errors import FleetError

_CHUNK = 1024 * 1024
#: broker keys the config test replaces: where it listens, what it writes, who it runs as
_BROKER_DROP = frozenset(
    {
        "listener",
        "port",
        "bind_address",
        "bind_interface",
        "socket_domain",
        "pid_file",
        "persistence",
        "persistence_location",
        "persistence_file",
        "autosave_interval",
        "log_dest",
        "log_file",
        "user",
        "include_dir",
        "sys_interval",
    }
)


@dataclass
class Check:
    """One health check's outcome."""

    name: str
    ok: bool
    detail: str


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_files(layer: str, root: Path, artifacts: Sequence[StoredArtifact]) -> Check:
    """Every file the manifest lists is at `root` with its SHA-256, mode and link target."""
    bad: list[str] = []
    count = 0
    for art in artifacts:
        if art.kind == "sqlite":
            dest = root / str(art.meta.get("path", art.name))
            count += 1
            if not dest.is_file() or _sha(dest) != art.sha256:
                bad.append(f"{dest.name}: differs from the snapshot")
            continue
        for rec in art.meta.get("files", []):
            path = root / rec["path"]
            count += 1
            if rec["type"] == "file":
                if not path.is_file() or path.is_symlink():
                    bad.append(f"{rec['path']}: missing")
                elif _sha(path) != rec["sha256"]:
                    bad.append(f"{rec['path']}: SHA-256 differs")
                elif path.stat().st_mode & 0o7777 != int(rec["mode"], 8) & 0o7777:
                    bad.append(f"{rec['path']}: mode {oct(path.stat().st_mode & 0o7777)}")
            elif rec["type"] == "symlink":
                if not path.is_symlink() or os.readlink(path) != rec.get("target"):
                    bad.append(f"{rec['path']}: link differs")
            elif rec["type"] == "dir" and not path.is_dir():
                bad.append(f"{rec['path']}: folder missing")
    detail = f"{count} entries match" if not bad else "; ".join(bad[:5])
    if len(bad) > 5:
        detail += f" (and {len(bad) - 5} more)"
    return Check(f"{layer}: files SHA-256", not bad, detail)


def _row_counts(dsn: str, db: str) -> dict[str, int]:
    with connect(with_dbname(dsn, db)) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN"
            " ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'"
            " AND n.nspname NOT LIKE 'pg_temp%%'"
        ).fetchall()
        out = {}
        for schema, table in tables:
            q = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            row = conn.execute(q).fetchone()
            out[f"{schema}.{table}"] = int(row[0]) if row else 0
    return out


def check_postgres(dsn: str, artifacts: Sequence[StoredArtifact]) -> list[Check]:
    """Each dumped database exists with the row counts recorded at backup; every role exists."""
    checks = []
    for art in artifacts:
        if art.kind == "pg_globals":
            want = list(art.meta.get("roles", []))
            with connect(dsn) as conn:
                have = {str(r[0]) for r in conn.execute("SELECT rolname FROM pg_roles")}
            missing = [r for r in want if r not in have]
            detail = f"{len(want)} roles present" if not missing else f"missing: {missing}"
            checks.append(Check("postgres: roles", not missing, detail))
        elif art.kind == "pg_dump":
            db = str(art.meta["database"])
            counts: dict[str, int] = dict(art.meta.get("row_counts", {}))
            try:
                got = _row_counts(dsn, db)
            except FleetError as exc:
                checks.append(Check(f"postgres: database {db}", False, exc.message))
                continue
            diff = {t: (n, got.get(t)) for t, n in counts.items() if got.get(t) != n}
            rows = sum(counts.values())
            detail = (
                f"{len(counts)} tables, {rows} rows as recorded"
                if not diff
                else "; ".join(f"{t}: backup {a}, restored {b}" for t, (a, b) in diff.items())
            )
            checks.append(Check(f"postgres: database {db} row counts", not diff, detail))
    return checks


def _scratch_path(root: Path, value: str) -> Path:
    return root / value.lstrip("/")


def broker_test_config(root: Path, conf_arc: str, port: int) -> str:
    """The restored broker config made runnable in scratch space.

    Files it names are taken from the restored tree under `root`; listener, persistence,
    pid and log settings are replaced (one loopback listener on `port`, nothing written).
    """
    user = pwd.getpwuid(os.getuid()).pw_name
    lines = [f"listener {port} 127.0.0.1", "persistence false", "log_dest stderr", f"user {user}"]

    def emit(path: Path) -> None:
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition(" ")
            value = value.strip()
            if key == "include_dir":
                for inc in sorted(_scratch_path(root, value).glob("*.conf")):
                    emit(inc)
            elif key in _BROKER_DROP:
                continue
            elif key in FILE_KEYS:
                lines.append(f"{key} {_scratch_path(root, value)}")
            else:
                lines.append(line)

    emit(root / conf_arc)
    return "\n".join(lines) + "\n"


def check_broker(root: Path, conf_arc: str, scratch: Path, timeout: float = 10.0) -> Check:
    """The restored config starts a real mosquitto (mosquitto 2.0 has no `-t` config test).

    The broker runs on a free loopback port from a flattened copy of the config (see
    `broker_test_config`); it passes when it accepts a TCP connection, then it is stopped
    by its PID.
    """
    from fleet.sim.broker import find_mosquitto, free_port

    name = "mosquitto: config starts a broker"
    try:
        exe = find_mosquitto()
    except FleetError as exc:
        return Check(name, False, exc.message)
    port = free_port()
    conf = scratch / "mosquitto-drill.conf"
    conf.write_text(broker_test_config(root, conf_arc, port), encoding="utf-8")
    log = scratch / "mosquitto-drill.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([str(exe), "-c", str(conf)], stdout=err, stderr=err)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-2:]
                return Check(name, False, f"exited {proc.returncode}: {' | '.join(tail)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return Check(
                        name, True, f"listened on 127.0.0.1:{port} with the restored files"
                    )
            except OSError:
                time.sleep(0.05)
        return Check(name, False, f"no listener on port {port} within {timeout:.0f} s")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def check_escrow(ctx: Any) -> Check:
    """Every escrowed NVS image decrypts, matches its SHA-256 and parses cleanly."""
    from fleet.nvs.escrow import IMAGE_KIND, escrowed
    from fleet.nvs.parser import parse_partition

    bad, count = [], 0
    for node in ctx.registry.list_nodes():
        if not ctx.vault.has(IMAGE_KIND, node.uid):
            continue
        count += 1
        try:
            image, meta, keys = escrowed(ctx, node.uid)
            if hashlib.sha256(image).hexdigest() != meta.get("sha256"):
                bad.append(f"{node.uid}: SHA-256 differs from the escrow record")
                continue
            parse_partition(image, key=keys)
        except FleetError as exc:
            bad.append(f"{node.uid}: {exc.message}")
    detail = f"{count} images parse and verify" if not bad else "; ".join(bad[:5])
    return Check("escrow: NVS images", not bad, detail)


def check_firmware(ctx: Any) -> Check:
    """Every bundle in the restored firmware store validates and matches its import record."""
    from fleet.firmware.store import FirmwareStore

    store = FirmwareStore(ctx.registry, ctx.home)
    bad, entries = [], store.entries()
    for entry in entries:
        try:
            store.load(entry.id)
        except FleetError as exc:
            bad.append(exc.message)
    detail = f"{len(entries)} bundles validate" if not bad else "; ".join(bad[:5])
    return Check("firmware: bundles", not bad, detail)
