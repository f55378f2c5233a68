"""What the file-based layers share: capture a list of paths as one tar+zstd artifact, and
restore tar artifacts into an empty target (staged beside it, renamed into place)."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Sequence
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
from fleet.backup.tarstream import TarItem, read_tar, write_tar
from fleet.errors import Conflict, CorruptData, LayerError, MissingPrerequisite

FILES_ARTIFACT = "files.tar.zst"


def require_paths(layer: str, paths: Sequence[Path], what: str = "path") -> None:
    """`MissingPrerequisite` naming every path in `paths` that does not exist or can't be read."""
    missing = [str(p) for p in paths if not os.access(p, os.R_OK)]
    if missing:
        raise MissingPrerequisite(
            f"layer {layer}: {what} not found or not readable: {', '.join(missing)}",
            layer=layer,
        )


def files_artifact(
    layer: str,
    items: Callable[[], list[TarItem]],
    exclude: tuple[Path, ...] = (),
    extra_meta: Callable[[], dict[str, Any]] | None = None,
    name: str = FILES_ARTIFACT,
    level: int = 3,
    root: Path | None = None,
) -> ArtifactStream:
    """An artifact that streams `items()` (evaluated when produced) as tar+zstd.

    With `root`, its mode is recorded (`meta.root_mode`) so a restore recreates it."""

    def produce(sink: BinaryIO) -> dict[str, Any]:
        chosen = items()
        meta = write_tar(sink, chosen, layer, level=level, exclude=exclude)
        meta["sources"] = {i.arcname: str(i.source) for i in chosen}
        if root is not None:
            meta["root_mode"] = format(stat.S_IMODE(root.stat().st_mode), "04o")
        if extra_meta is not None:
            meta.update(extra_meta())
        return meta

    return ArtifactStream(name=name, kind="files", encoding="tar+zstd", produce=produce)


def present(root: Path, rels: Sequence[str]) -> tuple[list[TarItem], list[str]]:
    """Split relative paths under `root` into items that exist and names that are absent."""
    items, absent = [], []
    for rel in rels:
        path = root / rel
        if path.exists() or path.is_symlink():
            items.append(TarItem(path, rel.strip("/")))
        else:
            absent.append(rel)
    return items, absent


def prepare_target(target: Path, move_aside: bool, layer: str) -> str | None:
    """Make `target` absent: remove it if an empty folder, move it aside if allowed, else
    `Conflict`. Returns where existing content went, if moved."""
    if not target.exists() and not target.is_symlink():
        return None
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        target.rmdir()
        return None
    if not move_aside:
        raise Conflict(
            f"layer {layer}: restore target {target} is not empty; "
            "restore elsewhere or allow moving it aside",
            layer=layer,
            path=target,
        )
    aside = target.with_name(f"{target.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
    os.replace(target, aside)
    return str(aside)


def restore_tars(
    layer: str, artifacts: Sequence[StoredArtifact], options: RestoreOptions
) -> RestoreResult:
    """Extract every tar+zstd artifact of a layer into `options.target`.

    Extraction goes to a staging folder beside the target and is renamed into place only
    after every artifact decrypted, matched its SHA-256s and passed the escape checks; on
    failure the staging folder is removed and moved-aside content is put back.
    """
    tars = [a for a in artifacts if a.encoding == "tar+zstd"]
    if not tars:
        raise LayerError(layer, "the snapshot holds no file artifact for this layer")
    target = options.target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.restoring-{secrets.token_hex(4)}")
    staging.mkdir(mode=0o700)
    moved = None
    count = 0
    try:
        for art in tars:
            what = f"layer {layer}: artifact {art.name}"
            with art.open() as reader:
                count += read_tar(reader, what, expected=art.meta.get("files"), target=staging)
        moved = prepare_target(target, options.move_aside, layer)
        os.chmod(staging, _root_mode(tars))
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if moved is not None and not target.exists():
            os.replace(moved, target)
        raise
    return RestoreResult(layer=layer, target=str(target), items=count, moved_aside=moved)


def _root_mode(tars: Sequence[StoredArtifact]) -> int:
    """The captured root folder's mode (`meta.root_mode`), else private (0700)."""
    for art in tars:
        mode = art.meta.get("root_mode")
        if isinstance(mode, str):
            return int(mode, 8) & 0o7777
    return 0o700


def check_no_plain_escape(name: str) -> None:
    """`CorruptData` if `name` is not a plain relative path (used for non-tar artifacts)."""
    if not name or name.startswith("/") or ".." in Path(name).parts:
        raise CorruptData(f"artifact entry {name!r} would escape the target; refused")


class RootTreeLayer:
    """Base of layers that capture fixed paths under one `root` (laravel, python_service).

    Subclasses set `name`, `settings_model` (with `root` and `extra`), `REQUIRED` and
    `OPTIONAL` (paths relative to root).
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[pydantic.BaseModel]]
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any, env: LayerEnv) -> None:
        self.config = config
        self.env = env
        self.root = Path(config.root).expanduser()
        self._absent: list[str] = []

    def relative_paths(self) -> list[str]:
        """Every path this layer captures, relative to its root."""
        return [*self.REQUIRED, *self.OPTIONAL, *self.config.extra]

    def prerequisites(self) -> None:
        """The root folder and the `REQUIRED` paths must exist and be readable."""
        require_paths(self.name, [self.root], "root folder")
        require_paths(self.name, [self.root / r for r in self.REQUIRED], "required file")

    def _items(self) -> list[TarItem]:
        items, self._absent = present(self.root, self.relative_paths())
        return items

    def backup(self) -> Iterator[ArtifactStream]:
        """One artifact `files.tar.zst` holding the paths, modes and owners kept."""
        yield files_artifact(
            self.name,
            self._items,
            exclude=self.env.exclude,
            level=self.env.zstd_level,
            extra_meta=lambda: {"absent": list(self._absent), "root": str(self.root)},
            root=self.root,
        )

    def restore(
        self, artifacts: Sequence[StoredArtifact], options: RestoreOptions
    ) -> RestoreResult:
        """Extract into `options.target` (the new root); see `LayerHandler`."""
        return restore_tars(self.name, artifacts, options)
