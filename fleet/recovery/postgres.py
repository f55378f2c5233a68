"""What the site recovery's PostgreSQL step needs around the postgres layer's own restore.

The layer (`fleet.backup.layers.postgres`) restores roles and databases. To be idempotent
across a crash, the recovery moves databases holding data aside itself (journaling the
new name first) and undoes its *own* half-finished work: a database it created, filled while
empty, or whose original it already renamed aside, is dropped and restored again, which is
the only drop it ever does.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from fleet.backup.layer import StoredArtifact
from fleet.backup.postgres.dump import connect, redacted, with_dbname

ADMIN_DB = "template1"


def where(dsn: str) -> str:
    """`dsn` for messages, password removed."""
    return redacted(dsn)


def dumped_databases(artifacts: Sequence[StoredArtifact]) -> list[str]:
    """Names of the databases the snapshot holds dumps of, in snapshot order."""
    return [str(a.meta["database"]) for a in artifacts if a.kind == "pg_dump"]


def admin_dsn(dsn: str) -> str:
    """`dsn` pointing at template1: a database the recovery never drops or restores."""
    return with_dbname(dsn, ADMIN_DB)


def list_databases(dsn: str) -> set[str]:
    """Names of the cluster's non-template databases."""
    with connect(admin_dsn(dsn)) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate").fetchall()
    return {str(r[0]) for r in rows}


def drop_own(dsn: str, dbname: str) -> None:
    """Drop `dbname`, which this recovery itself created or filled in an earlier attempt."""
    with connect(admin_dsn(dsn)) as conn:
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(query.format(sql.Identifier(dbname)))


def rename_aside(dsn: str, dbname: str, aside: str) -> None:
    """Rename `dbname` to `aside`, ending the sessions that hold it open (the old site's)."""
    with connect(admin_dsn(dsn)) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (dbname,),
        )
        query = sql.SQL("ALTER DATABASE {} RENAME TO {}")
        conn.execute(query.format(sql.Identifier(dbname), sql.Identifier(aside)))
