"""Fleet layer: fleet's own data directory (registry, vault, escrow, firmware store)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
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
from fleet.backup.layers._files import files_artifact, require_paths, restore_tars
from fleet.backup.tarstream import TarItem
from fleet.errors import LayerError, MissingPrerequisite
from fleet.settings import Settings

REGISTRY_ARTIFACT = "registry.sqlite3"
_CHUNK = 1024 * 1024
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp", ".lock")


class FleetLayerSettings(pydantic.BaseModel):
    """`[layers.fleet]` (optional: this layer runs by default); `exclude` names more paths
    under the data directory to leave out."""

    model_config = pydantic.ConfigDict(extra="forbid")
    enabled: bool = True
    post_restore: list[str] = []  # shell commands run after a live restore (not in drills)
    exclude: list[str] = []


class FleetLayer:
    """Captures the fleet data directory: the registry (nodes, audit, vault records = the
    encrypted secret and NVS escrow) as a consistent SQLite copy made with SQLite's backup
    API (never by reading the live file), and as tar+zstd everything else in the data
    directory: `fleet.toml`, the vault key file (so the escrow can be opened after a total
    loss; the snapshot is encrypted like everything else), the firmware store. Left out:
    the registry's own files (`-wal`, `-shm`), the backup repository when it lives inside
    the data directory, and `exclude`. A registry on PostgreSQL is not handled here (back
    it up with the postgres layer). The SQLite copy is built in memory (the registry is
    small); nothing is staged on disk. Needs nothing on PATH. Restore: a data directory at
    the target, the registry file at its original relative place."""

    name: ClassVar[str] = "fleet"
    settings_model: ClassVar[type[pydantic.BaseModel]] = FleetLayerSettings

    def __init__(self, config: FleetLayerSettings, env: LayerEnv) -> None:
        self.config = config
        self.env = env
        self.home = env.home
        settings = Settings(home=env.home, data=dict(env.settings_data), environ={})
        self.registry_url = settings.registry_url

    def registry_path(self) -> Path | None:
        """The SQLite registry file, or None when the registry is not SQLite."""
        prefix = "sqlite:///"
        if not self.registry_url.startswith(prefix):
            return None
        return Path(self.registry_url[len(prefix) :])

    def prerequisites(self) -> None:
        """The data directory must be readable; the registry must be SQLite (or absent)."""
        require_paths(self.name, [self.home], "data directory")
        if self.registry_path() is None:
            raise MissingPrerequisite(
                f"layer {self.name}: the registry is not SQLite; back it up with the postgres "
                "layer and set [layers.fleet] enabled = false or keep it for the files",
                layer=self.name,
            )

    def _registry_rel(self, db: Path) -> str:
        try:
            return db.resolve().relative_to(self.home.resolve()).as_posix()
        except ValueError:
            return REGISTRY_ARTIFACT

    def _items(self) -> list[TarItem]:
        db = self.registry_path()
        skip = {self.home / e for e in self.config.exclude}
        out = []
        for name in sorted(os.listdir(self.home)):
            path = self.home / name
            if path in skip or (db is not None and name.startswith(db.name)):
                continue
            if name.endswith(_SKIP_SUFFIXES):
                continue
            out.append(TarItem(path, name))
        return out

    def _registry_stream(self, db: Path) -> ArtifactStream:
        def produce(sink: BinaryIO) -> dict[str, Any]:
            try:
                src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                dst = sqlite3.connect(":memory:")
                with src, dst:
                    src.backup(dst)
                    counts = {
                        t: dst.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                        for (t,) in dst.execute(
                            "SELECT name FROM sqlite_master WHERE type='table'"
                        ).fetchall()
                    }
                    data = dst.serialize()
                src.close()
                dst.close()
            except sqlite3.Error as exc:
                raise LayerError(self.name, f"registry {db}: {exc}", path=db) from exc
            view = memoryview(data)
            for i in range(0, len(view), _CHUNK):
                sink.write(view[i : i + _CHUNK])
            return {"path": self._registry_rel(db), "row_counts": counts}

        return ArtifactStream(
            name=REGISTRY_ARTIFACT, kind="sqlite", encoding="raw", produce=produce
        )

    def backup(self) -> Iterator[ArtifactStream]:
        """`registry.sqlite3` (raw SQLite file, if the registry exists) and `files.tar.zst`."""
        db = self.registry_path()
        if db is not None and db.exists():
            yield self._registry_stream(db)
        yield files_artifact(
            self.name,
            self._items,
            exclude=self.env.exclude,
            level=self.env.zstd_level,
            root=self.home,
        )

    def restore(
        self, artifacts: Sequence[StoredArtifact], options: RestoreOptions
    ) -> RestoreResult:
        """The data directory at `options.target`, registry included; see `LayerHandler`."""
        result = restore_tars(self.name, artifacts, options)
        target = Path(result.target)
        for art in artifacts:
            if art.kind != "sqlite":
                continue
            rel = str(art.meta.get("path", REGISTRY_ARTIFACT))
            dest = target / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute():
                raise LayerError(self.name, f"registry path {rel!r} would escape the target")
            tmp = dest.with_name(f".{dest.name}.restoring")
            with art.open() as reader, open(tmp, "wb") as out:
                while chunk := reader.read(_CHUNK):
                    out.write(chunk)
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
        return result
