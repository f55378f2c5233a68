"""The `[backend]` settings section and where the API token comes from.

The token is read from `--token-file`, else `FLEET_BACKEND__TOKEN`, else the file named by
`[backend] token_file`. A token file must not be readable by group or others (0600). A
`token` written into fleet.toml is refused: that file is plaintext and goes into backups.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

import pydantic

from fleet.errors import ConfigError
from fleet.settings import Settings, read_file_settings


class BackendSettings(pydantic.BaseModel):
    """`[backend]`: the hydro 2.0 backend's registration API and its limits."""

    model_config = pydantic.ConfigDict(extra="forbid")
    url: str | None = None
    token: str | None = None  # from FLEET_BACKEND__TOKEN only (never fleet.toml)
    token_file: str | None = None
    per_identity_per_min: int = 10
    per_ip_per_min: int = 120
    window_seconds: float = 60.0  # the limits' window; 60 upstream, smaller for test doubles
    pacing_slack: float | None = None  # seconds added to the window; default max(0.25, 2 %)
    timeout: float = 10.0
    concurrency: int = 8
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    mode: Literal["auto", "plain", "hello"] = "auto"

    @pydantic.field_validator("token", mode="before")
    @classmethod
    def _token_text(cls, value: object) -> object:
        # FLEET_* values are read as TOML, so an all-digit token arrives as an int.
        return None if value is None else str(value)

    def __repr__(self) -> str:
        return f"BackendSettings(url={self.url!r}, token={'***' if self.token else None})"

    __str__ = __repr__


def backend_settings(settings: Settings, url: str | None = None) -> BackendSettings:
    """The `[backend]` section (with `url` overriding it); refuses a token in fleet.toml."""
    raw = read_file_settings(settings.home).get("backend")
    if isinstance(raw, dict) and "token" in raw:
        raise ConfigError(
            f"{settings.file} holds [backend] token in plaintext: remove it and use "
            "a 0600 token_file or FLEET_BACKEND__TOKEN",
            path=settings.file,
        )
    cfg = settings.section("backend", BackendSettings)
    if url:
        cfg = cfg.model_copy(update={"url": url})
    if not cfg.url:
        raise ConfigError("no backend URL: pass --backend URL or set [backend] url")
    if not cfg.url.startswith(("http://", "https://")):
        raise ConfigError(f"backend URL {cfg.url} is not http:// or https://")
    return cfg


def read_token_file(path: Path) -> str:
    """The token in `path` (stripped); ConfigError naming the file when unsafe or empty."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"token file {path} cannot be read ({exc.strerror})") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"token file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}): "
            f"run `chmod 600 {path}`"
        )
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ConfigError(f"token file {path} is empty")
    return token


def load_token(cfg: BackendSettings, home: Path, token_file: Path | None = None) -> str:
    """The bearer token: `token_file`, else FLEET_BACKEND__TOKEN, else `[backend] token_file`."""
    if token_file is not None:
        return read_token_file(token_file)
    if cfg.token:
        return cfg.token
    if cfg.token_file:
        path = Path(os.path.expanduser(cfg.token_file))
        return read_token_file(path if path.is_absolute() else home / path)
    raise ConfigError(
        "no backend token: pass --token-file FILE (mode 0600), set FLEET_BACKEND__TOKEN, "
        "or set [backend] token_file"
    )
