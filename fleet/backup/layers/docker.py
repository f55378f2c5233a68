"""Docker layer: named volumes (by their host folders) and the compose file."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

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
from fleet.errors import MissingPrerequisite


class DockerSettings(pydantic.BaseModel):
    """`[layers.docker]`: `volumes` by name, found under `volume_root/<name>/_data` unless
    `volume_paths` names a folder; `use_engine` asks `docker volume inspect` instead."""

    model_config = pydantic.ConfigDict(extra="forbid")
    volumes: list[str] = []
    volume_root: str = "/var/lib/docker/volumes"
    volume_paths: dict[str, str] = {}
    compose: str | None = None
    use_engine: bool = False
    enabled: bool = True
    post_restore: list[str] = []  # shell commands run after a live restore (not in drills)


class DockerLayer:
    """Captures each named volume's content as `volumes/<name>/...` and the compose file as
    `compose/<file name>`. Volumes are found by their host folder (settings), or through
    the Docker CLI (`docker volume inspect`) with `use_engine = true`, which then needs
    `docker` on PATH and a running engine. Consistency: a file copy; stop the containers
    that write a volume first (a live database volume is covered by the postgres layer,
    not here). Restore: `volumes/<name>/` and `compose/` under the target."""

    name: ClassVar[str] = "docker"
    settings_model: ClassVar[type[pydantic.BaseModel]] = DockerSettings

    def __init__(self, config: DockerSettings, env: LayerEnv) -> None:
        self.config = config
        self.env = env

    def volume_path(self, volume: str) -> Path:
        """The host folder holding `volume`'s data."""
        if volume in self.config.volume_paths:
            return Path(self.config.volume_paths[volume]).expanduser()
        if self.config.use_engine:
            return self._inspect(volume)
        return Path(self.config.volume_root).expanduser() / volume / "_data"

    def _inspect(self, volume: str) -> Path:
        if shutil.which("docker") is None:
            raise MissingPrerequisite(
                f"layer {self.name}: `docker` is not on PATH", layer=self.name
            )
        proc = subprocess.run(
            ["docker", "volume", "inspect", volume], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise MissingPrerequisite(
                f"layer {self.name}: docker volume {volume!r}: {proc.stderr.strip()}",
                layer=self.name,
            )
        return Path(json.loads(proc.stdout)[0]["Mountpoint"])

    def prerequisites(self) -> None:
        """Every volume folder and the compose file must be readable."""
        paths = [self.volume_path(v) for v in self.config.volumes]
        if self.config.compose:
            paths.append(Path(self.config.compose).expanduser())
        if not paths:
            raise MissingPrerequisite(
                f"layer {self.name}: neither volumes nor compose is set", layer=self.name
            )
        require_paths(self.name, paths, "volume folder or compose file")

    def _items(self) -> list[TarItem]:
        items = [TarItem(self.volume_path(v), f"volumes/{v}") for v in self.config.volumes]
        if self.config.compose:
            compose = Path(self.config.compose).expanduser()
            items.append(TarItem(compose, f"compose/{compose.name}"))
        return items

    def backup(self) -> Iterator[ArtifactStream]:
        """One artifact `files.tar.zst` with every volume and the compose file."""
        yield files_artifact(
            self.name,
            self._items,
            exclude=self.env.exclude,
            level=self.env.zstd_level,
            extra_meta=lambda: {"volumes": list(self.config.volumes)},
        )

    def restore(
        self, artifacts: Sequence[StoredArtifact], options: RestoreOptions
    ) -> RestoreResult:
        """Extract under `options.target`; see `LayerHandler`."""
        return restore_tars(self.name, artifacts, options)
