"""Logical capture of a PostgreSQL cluster: which databases, `pg_dump`, globals, row counts.

Every function streams what a tool prints into a sink (no staging on disk). A database dump
and its row counts come from one exported snapshot (`pg_export_snapshot()` + `pg_dump
--snapshot`), so the counts a drill compares against are exactly what the dump holds.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import conninfo, sql

from fleet.errors import LayerError, MissingPrerequisite

LAYER = "postgres"
CHUNK = 1024 * 1024
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def with_dbname(dsn: str, dbname: str) -> str:
    """`dsn` (URL or key=value) pointed at database `dbname`, as a key=value string."""
    return conninfo.make_conninfo(dsn, dbname=dbname)


def redacted(dsn: str) -> str:
    """`dsn` without its password: safe for messages, logs and the manifest."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparsable dsn)"
    parts.pop("password", None)
    host = parts.get("host", "localhost")
    port = parts.get("port", "5432")
    return f"postgresql://{parts.get('user', '')}@{host}:{port}/{parts.get('dbname', '')}"


def tool_env(dsn: str) -> tuple[str, dict[str, str] | None]:
    """`dsn` without its password, plus an environment passing it as PGPASSWORD.

    Client programs get the password this way so that it never shows in a process list.
    The environment is None (inherit ours) when the DSN has no password.
    """
    parts = conninfo.conninfo_to_dict(dsn)
    password = parts.pop("password", None)
    if password is None:
        return dsn, None
    return conninfo.make_conninfo("", **parts), {**os.environ, "PGPASSWORD": str(password)}


def connect(dsn: str, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection; MissingPrerequisite naming the server (not the password) when refused."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MissingPrerequisite(
            f"layer {LAYER}: cannot connect to {redacted(dsn)}: {first}", layer=LAYER
        ) from exc


@dataclass(frozen=True)
class ServerInfo:
    """Facts about the server a backup came from."""

    version: str
    major: int
    system_identifier: str
    wal_level: str


def server_info(dsn: str) -> ServerInfo:
    """Version, system identifier and wal_level of the server at `dsn`."""
    with connect(dsn) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num'),"
            " (SELECT system_identifier::text FROM pg_control_system()),"
            " current_setting('wal_level')"
        ).fetchone()
    assert row is not None
    return ServerInfo(str(row[0]), int(row[1]) // 10000, str(row[2]), str(row[3]))


@dataclass(frozen=True)
class DatabaseInfo:
    """A database as pg_database describes it (what CREATE DATABASE needs to recreate it)."""

    name: str
    owner: str
    encoding: str
    collate: str
    ctype: str


def list_databases(
    dsn: str, only: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[DatabaseInfo]:
    """The cluster's databases that accept connections, except templates; sorted by name.

    `only` restricts to those names (LayerError naming any that does not exist).
    """
    with connect(dsn) as conn:
        rows = conn.execute(
            "SELECT d.datname, r.rolname, pg_encoding_to_char(d.encoding), d.datcollate,"
            " d.datctype FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"
            " WHERE d.datallowconn AND NOT d.datistemplate ORDER BY d.datname"
        ).fetchall()
    found = [DatabaseInfo(*map(str, row)) for row in rows]
    if only:
        names = {d.name for d in found}
        missing = [n for n in only if n not in names]
        if missing:
            raise LayerError(
                LAYER, f"database(s) not found on {redacted(dsn)}: {', '.join(missing)}"
            )
        found = [d for d in found if d.name in only]
    return [d for d in found if d.name not in exclude]


def row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Exact row count of every ordinary table outside the system schemas: {"schema.table": n}."""
    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_temp%%'"
        " ORDER BY 1, 2",
        (list(_SYSTEM_SCHEMAS),),
    ).fetchall()
    counts: dict[str, int] = {}
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        row = conn.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def stream_tool(
    argv: list[str], sink: IO[bytes], what: str, env: dict[str, str] | None = None
) -> int:
    """Run `argv`, copy its stdout to `sink` in chunks; return the byte count.

    Raises LayerError naming `what` with the tool's last stderr lines when it fails.
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    errors: list[bytes] = []
    drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    drain.start()
    total = 0
    try:
        while chunk := proc.stdout.read(CHUNK):
            sink.write(chunk)
            total += len(chunk)
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        rc = proc.wait()
        drain.join()
    if rc != 0:
        tail = b"".join(errors).decode(errors="replace").strip().splitlines()[-3:]
        raise LayerError(LAYER, f"{what} failed (exit {rc}): {' | '.join(tail)}")
    return total


def dump_globals(pg_dumpall: Path, dsn: str, sink: IO[bytes]) -> dict[str, Any]:
    """`pg_dumpall --globals-only` (roles, memberships, tablespaces) into `sink`.

    Returns the role names it holds, for the restore to check they exist afterwards.
    """
    with connect(dsn) as conn:
        roles = [
            str(r[0])
            for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1"
            ).fetchall()
        ]
    plain, env = tool_env(dsn)
    size = stream_tool(
        [str(pg_dumpall), "--globals-only", "--no-password", "-d", plain],
        sink,
        f"pg_dumpall --globals-only on {redacted(dsn)}",
        env,
    )
    return {"roles": roles, "bytes": size}


def dump_database(
    pg_dump: Path, dsn: str, db: DatabaseInfo, sink: IO[bytes], schema_only: bool = False
) -> dict[str, Any]:
    """`pg_dump -Fc` (or `--schema-only` plain SQL) of database `db` into `sink`.

    The full dump runs in a snapshot exported by a REPEATABLE READ transaction that also
    counts the rows of every table, so `row_counts` describe exactly the dumped data.
    """
    target = with_dbname(dsn, db.name)
    meta: dict[str, Any] = {
        "database": db.name,
        "owner": db.owner,
        "encoding": db.encoding,
        "collate": db.collate,
        "ctype": db.ctype,
    }
    plain, env = tool_env(target)
    if schema_only:
        stream_tool(
            [str(pg_dump), "--schema-only", "--no-password", "-d", plain],
            sink,
            f"pg_dump --schema-only of database {db.name}",
            env,
        )
        return meta
    with connect(target, autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        snapshot = str(row[0])
        meta["row_counts"] = row_counts(conn)
        stream_tool(
            [str(pg_dump), "-Fc", "--no-password", f"--snapshot={snapshot}", "-d", plain],
            sink,
            f"pg_dump of database {db.name}",
            env,
        )
        conn.rollback()
    return meta
