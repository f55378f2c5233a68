"""Mosquitto layer: the broker's config, the files it names, and its persistence database."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

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
from fleet.errors import LayerError

#: config keys whose value is a file the broker needs (TLS material, auth, PSK)
FILE_KEYS = frozenset(
    {
        "password_file",
        "acl_file",
        "psk_file",
        "cafile",
        "certfile",
        "keyfile",
        "crlfile",
        "dhparamfile",
    }
)


class MosquittoSettings(pydantic.BaseModel):
    """`[layers.mosquitto]`: `config` file; `pid_file` overrides the config's `pid_file`."""

    model_config = pydantic.ConfigDict(extra="forbid")
    config: str = "/etc/mosquitto/mosquitto.conf"
    pid_file: str | None = None
    save_timeout: float = 10.0
    enabled: bool = True
    post_restore: list[str] = []  # shell commands run after a live restore (not in drills)


@dataclass
class BrokerConfig:
    """What a mosquitto config (with its `include_dir` files) says about files on disk."""

    configs: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    persistence: bool = False
    persistence_location: Path | None = None
    persistence_file: str = "mosquitto.db"
    pid_file: Path | None = None

    @property
    def db_path(self) -> Path | None:
        """The persistence database, when persistence is on."""
        if not self.persistence:
            return None
        base = self.persistence_location or Path("/var/lib/mosquitto")
        return base / self.persistence_file


def parse_config(path: Path, into: BrokerConfig | None = None) -> BrokerConfig:
    """Read a mosquitto config and every `*.conf` its `include_dir`s name."""
    cfg = into or BrokerConfig()
    cfg.configs.append(path)
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        if key in FILE_KEYS and value:
            cfg.files.append(Path(value))
        elif key == "persistence":
            cfg.persistence = value.lower() in ("true", "1", "yes", "on")
        elif key == "persistence_location" and value:
            cfg.persistence_location = Path(value)
        elif key == "persistence_file" and value:
            cfg.persistence_file = value
        elif key == "pid_file" and value:
            cfg.pid_file = Path(value)
        elif key == "include_dir" and value and Path(value).is_dir():
            for inc in sorted(Path(value).glob("*.conf")):
                parse_config(inc, cfg)
    return cfg


def _arc(path: Path) -> str:
    return path.absolute().as_posix().lstrip("/")


class MosquittoLayer:
    """Captures `mosquitto.conf`, every `include_dir` config, every file a config names
    (`password_file`, `acl_file`, `psk_file`, TLS files), and with `persistence true` the
    database `mosquitto.db`. Archive names are the absolute paths without the leading `/`
    (so `tar -x -C /` would put them back in place). Consistency: with persistence on,
    the broker is asked to save first (SIGUSR1 to the PID from `pid_file`) and the layer
    waits until `mosquitto.db` has been rewritten; without a live broker PID the database
    is copied as it is and the manifest says `db_saved: false`. Needs nothing on PATH.
    Restore: the same relative tree under the target."""

    name: ClassVar[str] = "mosquitto"
    settings_model: ClassVar[type[pydantic.BaseModel]] = MosquittoSettings

    def __init__(self, config: MosquittoSettings, env: LayerEnv) -> None:
        self.config = config
        self.env = env
        self.conf = Path(config.config).expanduser()
        self._save: dict[str, Any] = {}

    def prerequisites(self) -> None:
        """The config and every file it names must be readable."""
        require_paths(self.name, [self.conf], "config file")
        cfg = parse_config(self.conf)
        require_paths(self.name, cfg.files, "file named by the broker config")

    def _pid(self, cfg: BrokerConfig) -> int | None:
        pid_file = Path(self.config.pid_file) if self.config.pid_file else cfg.pid_file
        if pid_file is None:
            return None
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def _ask_save(self, cfg: BrokerConfig) -> None:
        db = cfg.db_path
        assert db is not None
        pid = self._pid(cfg)
        if pid is None:
            self._save = {"db_saved": False, "reason": "no running broker PID found"}
            return
        before = _stamp(db)
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + self.config.save_timeout
        while _stamp(db) == before:
            if time.monotonic() > deadline:
                raise LayerError(
                    self.name,
                    f"broker pid {pid} did not rewrite {db} within {self.config.save_timeout} s "
                    "after SIGUSR1",
                    path=db,
                )
            time.sleep(0.02)
        self._save = {"db_saved": True, "pid": pid}

    def _items(self) -> list[TarItem]:
        cfg = parse_config(self.conf)
        paths = [*cfg.configs, *cfg.files]
        db = cfg.db_path
        if db is not None:
            self._ask_save(cfg)
            if db.exists():
                paths.append(db)
        seen: dict[str, TarItem] = {}
        for p in paths:
            seen.setdefault(_arc(p), TarItem(p.absolute(), _arc(p)))
        return list(seen.values())

    def backup(self) -> Iterator[ArtifactStream]:
        """One artifact `files.tar.zst` (config, named files, database)."""
        yield files_artifact(
            self.name,
            self._items,
            exclude=self.env.exclude,
            level=self.env.zstd_level,
            extra_meta=lambda: {"config": _arc(self.conf), **self._save},
        )

    def restore(
        self, artifacts: Sequence[StoredArtifact], options: RestoreOptions
    ) -> RestoreResult:
        """Extract under `options.target` (paths relative to `/`); see `LayerHandler`."""
        return restore_tars(self.name, artifacts, options)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns
