"""Restore half of the postgres layer: roles first, then each database with `pg_restore`.

A database is restored into a target cluster (any DSN) under its own name or a mapped one.
It is created there when absent; an existing *empty* database is restored into; a non-empty
one is refused (Conflict) unless moving aside is allowed, in which case it is renamed to
`<name>_before_restore_<timestamp>` first: nothing is dropped.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

from fleet.backup.postgres.dump import CHUNK, LAYER, connect, redacted, tool_env, with_dbname
from fleet.errors import Conflict, LayerError

_EMPTY_CHECK = (
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    " AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast_temp%%'"
)


def feed_tool(argv: list[str], opener: Any, what: str, env: dict[str, str] | None = None) -> str:
    """Run `argv` with the plaintext of an artifact on stdin; return its stderr.

    `opener()` is the artifact's `open` (a context manager yielding the decrypted stream);
    its exit checks the SHA-256. Raises LayerError naming `what` when the tool fails.
    """
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdin is not None and proc.stderr is not None
    errors: list[bytes] = []
    stderr = proc.stderr
    drain = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
    drain.start()
    ctx: AbstractContextManager[IO[bytes]] = opener()
    try:
        with ctx as reader:
            while chunk := reader.read(CHUNK):
                proc.stdin.write(chunk)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the tool died; its exit code and stderr say why
    except BaseException:
        proc.kill()
        raise
    finally:
        rc = proc.wait()
        drain.join()
    log = b"".join(errors).decode(errors="replace")
    if rc != 0:
        tail = " | ".join(log.strip().splitlines()[-3:])
        raise LayerError(LAYER, f"{what} failed (exit {rc}): {tail}")
    return log


def restore_globals(psql: Path, dsn: str, opener: Any, roles: Sequence[str]) -> dict[str, Any]:
    """Apply `pg_dumpall --globals-only` output with psql; check every role exists after.

    "already exists" errors (the superuser, re-runs) are expected and ignored; any other
    error is reported in `warnings`. LayerError naming the roles still missing afterwards.
    """
    plain, env = tool_env(dsn)
    argv = [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=0", "--no-password", "-d", plain]
    log = feed_tool(argv, opener, f"psql (roles) into {redacted(dsn)}", env)
    warnings = [
        line.strip()
        for line in log.splitlines()
        if "ERROR:" in line and "already exists" not in line
    ]
    with connect(dsn) as conn:
        present = {str(r[0]) for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    missing = [r for r in roles if r not in present]
    if missing:
        raise LayerError(LAYER, f"roles missing after restoring globals: {', '.join(missing)}")
    return {"roles": list(roles), "warnings": warnings}


def database_state(dsn: str, name: str) -> str:
    """`absent`, `empty` or `data` for database `name` on the server at `dsn`."""
    with connect(dsn) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if not exists:
        return "absent"
    with connect(with_dbname(dsn, name)) as conn:
        row = conn.execute(_EMPTY_CHECK).fetchone()
    return "empty" if row is not None and int(row[0]) == 0 else "data"


def _move_aside(dsn: str, name: str) -> str:
    aside = f"{name}_before_restore_{time.strftime('%Y%m%d%H%M%S')}"
    with connect(dsn) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(name), sql.Identifier(aside)
            )
        )
    return aside


def _create(dsn: str, name: str, meta: Mapping[str, Any]) -> None:
    query = sql.SQL(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}"
    ).format(
        sql.Identifier(name),
        sql.Literal(meta.get("encoding", "UTF8")),
        sql.Literal(meta.get("collate", "C")),
        sql.Literal(meta.get("ctype", "C")),
    )
    with connect(dsn) as conn:
        try:
            conn.execute(query)
            owner = meta.get("owner")
            if owner:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(name), sql.Identifier(str(owner))
                    )
                )
        except psycopg.Error as exc:
            raise LayerError(LAYER, f"cannot create database {name}: {exc}") from exc


def restore_database(
    pg_restore: Path,
    dsn: str,
    meta: Mapping[str, Any],
    opener: Any,
    into: str | None = None,
    move_aside: bool = False,
) -> dict[str, Any]:
    """Restore one `pg_dump -Fc` artifact into database `into` (default: its own name).

    Same name: an absent database is created by `pg_restore --create` (keeping its
    properties, grants and settings). Conflict naming the database when it holds data and
    `move_aside` is false.
    """
    original = str(meta["database"])
    name = into or original
    state = database_state(dsn, name)
    aside = None
    if state == "data":
        if not move_aside:
            raise Conflict(
                f"layer {LAYER}: database {name} on {redacted(dsn)} is not empty; "
                "restore into another database or allow moving it aside",
                layer=LAYER,
                database=name,
            )
        aside = _move_aside(dsn, name)
        state = "absent"
    argv = [str(pg_restore), "--no-password", "--exit-on-error"]
    if state == "absent" and name == original:
        plain, env = tool_env(with_dbname(dsn, "template1"))
        argv += ["--create", "-d", plain]
        action = "created"
    else:
        if state == "absent":
            _create(dsn, name, meta)
            action = "created"
        else:
            action = "restored into empty"
        plain, env = tool_env(with_dbname(dsn, name))
        argv += ["-d", plain]
    feed_tool(argv, opener, f"pg_restore of database {original} into {name}", env)
    return {"database": name, "from": original, "action": action, "moved_aside": aside}
