"""The contract every backup layer handler keeps (the `LayerHandler` Protocol).

A *layer* is one part of the site (the PostgreSQL cluster, the Laravel files, the broker
config, ...). Its handler knows how to capture that part as one or more *artifacts* and how
to put them back. The repository (`fleet.backup.repository`) does everything around it:
compression choice is the handler's, but encryption (age, X25519 recipients), hashing,
write-aside-fsync-rename, the manifest and its authentication are the repository's. A handler
never writes plaintext to disk and never sees a key.

Handlers are plain classes, one file each under `fleet/backup/layers/`, listed once in
`fleet.backup.layers.LAYERS`. A handler is built with `Handler(config, env)` where `config`
is its validated settings model (`[layers.<name>]`) and `env` a `LayerEnv`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Protocol, runtime_checkable

import pydantic

# How an artifact's plaintext is encoded; the manifest records it so that stock tools can
# read it: `tar+zstd` -> `age -d -i ID F | zstd -dc | tar -x -C DIR`;
# `pg_dump-custom` -> `age -d -i ID F | pg_restore ...`; `sql` -> `age -d -i ID F | psql`.
ENCODINGS = ("tar+zstd", "tar", "pg_dump-custom", "sql", "raw")

#: What `ArtifactStream.produce` returns: facts recorded in the manifest for this artifact
#: (e.g. `{"files": [...]}` with SHA-256 per file, `{"row_counts": {...}}`, backup label).
ArtifactMeta = dict[str, Any]


@dataclass(frozen=True)
class LayerEnv:
    """What a handler may know about its surroundings.

    `home`: the fleet data directory. `settings_data`: the merged settings (read-only).
    `exclude`: absolute paths a handler must never capture (the backup repository itself).
    `zstd_level`: the compression level for handlers that compress (`[backup] zstd_level`).
    """

    home: Path
    settings_data: Mapping[str, Any] = field(default_factory=dict)
    exclude: tuple[Path, ...] = ()
    zstd_level: int = 3


@dataclass(frozen=True)
class ArtifactStream:
    """One artifact a handler offers: a name and a function that streams its plaintext.

    `name`: file-name-safe (`[a-z0-9._-]`), unique within the layer, e.g. `files.tar.zst`.
    `kind`: what it is (`files`, `pg_dump`, `pg_globals`, `pg_schema`, `pg_base`, ...).
    `encoding`: one of `ENCODINGS`; says how stock tools read the decrypted bytes.
    `produce(sink)`: writes the whole plaintext to `sink` in chunks (never all in memory),
    returns `ArtifactMeta` for the manifest, and raises `LayerError` naming the file/database
    on failure. It is called at most once.
    """

    name: str
    kind: str
    encoding: str
    produce: Callable[[BinaryIO], ArtifactMeta]


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact of a snapshot as the restore half sees it.

    `open()` yields the decrypted plaintext as a readable stream; the repository checks the
    plaintext SHA-256 and size when the context exits normally and raises `CorruptData`
    naming the artifact if they differ (so a handler must read the stream to its end and
    must not treat its output as final until `open()` has exited cleanly).
    """

    layer: str
    name: str
    kind: str
    encoding: str
    size: int
    sha256: str
    meta: ArtifactMeta
    open: Callable[[], AbstractContextManager[BinaryIO]]


@dataclass(frozen=True)
class RestoreOptions:
    """How a restore may treat its target.

    `target`: where to restore (a folder for file layers; its meaning is per layer, e.g. a
    DSN for databases goes in `params`). `move_aside`: when the target already holds data,
    move it to `<target>.before-restore-<timestamp>` instead of refusing. `params`: layer
    specific options (e.g. `{"dsn": ...}`).
    """

    target: Path
    move_aside: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: where things went and per-item facts for the report."""

    layer: str
    target: str
    items: int
    moved_aside: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LayerHandler(Protocol):
    """A pluggable part of the site backup.

    Contract, every handler:

    - **What is captured** is stated in the handler's class docstring, item by item, and only
      that; paths given in settings are absolute or relative to the layer's `root`.
    - **Consistency**: each artifact is a consistent image of what it names at one moment as
      far as the source allows (SQLite backup API, `pg_dump` snapshot, broker asked to save
      first); where a plain file copy is all there is, a file changing *while* it is read is
      an error naming that file, never a silently torn copy.
    - **Prerequisites**: `prerequisites()` checks everything the handler needs (tools on
      PATH, readable paths, a reachable server) *before* anything is written and raises
      `MissingPrerequisite` naming each missing thing and the layer.
    - **Idempotency**: `backup()` only reads the site (the one allowed side effect is asking
      a service to flush, e.g. SIGUSR1 to Mosquitto); running it twice yields two equivalent
      snapshots. `restore()` never deletes data it did not create: it writes into an empty
      or missing target, or moves existing content aside when `RestoreOptions.move_aside`
      is set, else raises `Conflict`; re-running a completed restore into the same (now
      restored) target is refused the same way, not merged.
    - **Secrets**: plaintext goes only to the `sink` given by the repository; nothing is
      staged on disk, logged, or put in an exception message.
    - **Restore safety**: any archive entry whose path would land outside the target
      (absolute, `..`, a link pointing out) is refused with `CorruptData` naming the entry,
      and nothing is left half-written in the target.
    """

    #: registry key and the settings table `[layers.<name>]`
    name: ClassVar[str]
    #: pydantic model of `[layers.<name>]`
    settings_model: ClassVar[type[pydantic.BaseModel]]

    def prerequisites(self) -> None:
        """Check tools, paths and servers; raise `MissingPrerequisite` naming what is missing."""
        ...

    def backup(self) -> Iterator[ArtifactStream]:
        """Yield the layer's artifacts, in order; each is produced before the next is asked for.

        Raises `LayerError` naming the layer and the failing item.
        """
        ...

    def restore(
        self, artifacts: Sequence[StoredArtifact], options: RestoreOptions
    ) -> RestoreResult:
        """Put the layer's artifacts back into `options.target`; see the class contract."""
        ...


#: What builds a handler: `factory(config, env)`; `config` is an instance of the handler's
#: `settings_model`.
HandlerFactory = Callable[[Any, LayerEnv], LayerHandler]
