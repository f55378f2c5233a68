"""PostgreSQL layer: every database of one cluster, its roles, its DDL, and a base backup."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import pydantic

from fleet.backup.layer import (
    ArtifactStream,
    LayerEnv,
    RestoreOptions,
    RestoreResult,
    StoredArtifact,
)
from fleet.backup.postgres import base as pgbase
from fleet.backup.postgres import dump as pgdump
from fleet.backup.postgres import restore as pgrestore
from fleet.backup.postgres.tools import find_tool, tool_version
from fleet.errors import LayerError, MissingPrerequisite, UsageError

LAYER = "postgres"


class PostgresSettings(pydantic.BaseModel):
    """`[layers.postgres]`: `dsn` of the cluster (any database of it; all are captured unless
    `databases` lists some); `base_backup` adds a physical backup for point-in-time recovery.
    Passwords belong in `~/.pgpass` / `PGPASSFILE`, not here."""

    model_config = pydantic.ConfigDict(extra="forbid")
    dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    databases: list[str] = []
    exclude_databases: list[str] = []
    base_backup: bool = False
    schema_dump: bool = True
    enabled: bool = True


def artifact_stem(name: str) -> str:
    """A file-name-safe, collision-free stem for database `name` (`[a-z0-9._-]`)."""
    safe = re.sub(r"[^a-z0-9_-]+", "_", name.lower()).strip("_") or "db"
    if safe != name:
        safe = f"{safe}-{sum(name.encode()) % 65536:04x}{len(name):02x}"
    return safe


class PostgresLayer:
    """Captures, from the cluster at `dsn`: `globals.sql` (`pg_dumpall --globals-only`:
    roles, memberships, tablespaces); per database `db.<name>.dump` (`pg_dump -Fc`, with the
    exact row count of every table taken in the same snapshot) and, with `schema_dump`,
    `schema.<name>.sql` (DDL only); with `base_backup`, `base.tar.zst` (`pg_basebackup`,
    backup label, start/stop LSN, timeline, system identifier in the manifest).

    Consistency: each database dump is one MVCC snapshot; dumps of different databases are
    taken one after the other (PostgreSQL has no cross-database snapshot); the base backup
    plus the WAL archive is the point-in-time consistent copy. Needs `pg_dump`,
    `pg_dumpall` (and `pg_basebackup`) of the server's major version or newer, `psql` and
    `pg_restore` to restore. Restore: roles first, then each database (see
    `fleet.backup.postgres.restore`).
    """

    name: ClassVar[str] = LAYER
    settings_model: ClassVar[type[pydantic.BaseModel]] = PostgresSettings

    def __init__(self, config: PostgresSettings, env: LayerEnv) -> None:
        self.config = config
        self.env = env
        self._major: int | None = None

    # -- prerequisites -----------------------------------------------------------------

    def _tool(self, name: str) -> Path:
        try:
            return find_tool(name, self._major)
        except MissingPrerequisite as exc:
            raise MissingPrerequisite(f"layer {LAYER}: {exc.detail}", layer=LAYER) from exc

    def prerequisites(self) -> None:
        """The server answers at `dsn`; pg_dump/pg_dumpall (pg_basebackup) of its version
        exist; for a base backup, wal_level is replica or logical."""
        info = pgdump.server_info(self.config.dsn)
        self._major = info.major
        self._tool("pg_dump")
        self._tool("pg_dumpall")
        if self.config.base_backup:
            self._tool("pg_basebackup")
            if info.wal_level == "minimal":
                raise MissingPrerequisite(
                    f"layer {LAYER}: wal_level is minimal on {pgdump.redacted(self.config.dsn)}; "
                    "a base backup needs wal_level = replica",
                    layer=LAYER,
                )
        pgdump.list_databases(self.config.dsn, self.config.databases, self.config.exclude_databases)

    # -- backup ------------------------------------------------------------------------

    def backup(self) -> Iterator[ArtifactStream]:
        """globals, then per database the dump and the DDL, then the base backup."""
        dsn = self.config.dsn
        info = pgdump.server_info(dsn)
        self._major = info.major
        server = {
            "server_version": info.version,
            "system_identifier": info.system_identifier,
            "dsn": pgdump.redacted(dsn),
        }
        dumpall, dump = self._tool("pg_dumpall"), self._tool("pg_dump")
        versions = {"pg_dump": tool_version(dump)}

        def globals_(sink: BinaryIO) -> dict[str, Any]:
            return {**server, **versions, **pgdump.dump_globals(dumpall, dsn, sink)}

        yield ArtifactStream("globals.sql", "pg_globals", "sql", globals_)
        dbs = pgdump.list_databases(dsn, self.config.databases, self.config.exclude_databases)
        for db in dbs:
            stem = artifact_stem(db.name)

            def full(sink: BinaryIO, db: pgdump.DatabaseInfo = db) -> dict[str, Any]:
                return {**server, **versions, **pgdump.dump_database(dump, dsn, db, sink)}

            yield ArtifactStream(f"db.{stem}.dump", "pg_dump", "pg_dump-custom", full)
            if self.config.schema_dump:

                def ddl(sink: BinaryIO, db: pgdump.DatabaseInfo = db) -> dict[str, Any]:
                    return {**server, **pgdump.dump_database(dump, dsn, db, sink, True)}

                yield ArtifactStream(f"schema.{stem}.sql", "pg_schema", "sql", ddl)
        if self.config.base_backup:
            basebackup = self._tool("pg_basebackup")

            def base(sink: BinaryIO) -> dict[str, Any]:
                started = dt.datetime.now(dt.UTC)
                meta = pgbase.base_backup(
                    basebackup, dsn, sink, label=f"fleet {started:%Y%m%dT%H%M%SZ}"
                )
                meta["stop_time"] = dt.datetime.now(dt.UTC).isoformat()
                return {**server, "pg_basebackup": tool_version(basebackup), **meta}

            yield ArtifactStream("base.tar.zst", "pg_base", "tar+zstd", base)

    # -- restore -----------------------------------------------------------------------

    def restore(
        self, artifacts: Sequence[StoredArtifact], options: RestoreOptions
    ) -> RestoreResult:
        """Roles, then every dumped database, into the cluster at `options.params["dsn"]`.

        `params`: `dsn` (required: the target cluster, any database), `databases` (restore
        only these), `rename` ({dumped name: target name}). A database holding data is
        refused (Conflict) unless `options.move_aside`, which renames it aside first.
        """
        target = options.params.get("dsn")
        if not target:
            raise UsageError(f"layer {LAYER}: restore needs params dsn (the target cluster)")
        dsn = str(target)
        major = pgdump.server_info(dsn).major
        psql, pg_restore = find_tool("psql", major), find_tool("pg_restore", major)
        only = set(options.params.get("databases") or [])
        rename: dict[str, str] = dict(options.params.get("rename") or {})
        detail: dict[str, Any] = {"databases": []}
        globals_ = [a for a in artifacts if a.kind == "pg_globals"]
        if not globals_:
            raise LayerError(LAYER, "the snapshot holds no globals.sql (roles) artifact")
        detail["globals"] = pgrestore.restore_globals(
            psql, dsn, globals_[0].open, list(globals_[0].meta.get("roles", []))
        )
        dumps = [a for a in artifacts if a.kind == "pg_dump"]
        for art in dumps:
            original = str(art.meta["database"])
            if only and original not in only:
                continue
            detail["databases"].append(
                pgrestore.restore_database(
                    pg_restore,
                    dsn,
                    art.meta,
                    partial(art.open),
                    into=rename.get(original),
                    move_aside=options.move_aside,
                )
            )
        return RestoreResult(
            layer=LAYER,
            target=pgdump.redacted(dsn),
            items=len(detail["databases"]),
            detail=detail,
        )
