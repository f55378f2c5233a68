"""Settings: `fleet.toml` in the data directory, overridden by `FLEET_*` variables.

Precedence, lowest first: built-in defaults < `$FLEET_HOME/fleet.toml` < environment
(`FLEET_SECTION__KEY=value`, e.g. `FLEET_SERVICE__STALE_AFTER=30`) < command-line options
(which callers pass as `overrides`). The data directory is `--home`, else `FLEET_HOME`,
else `~/.local/share/fleet`.

Each area of fleet owns the model of its own section and reads it with
`Settings.section(name, Model)`, so that adding a section never touches this module.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import tomli_w

from fleet.errors import ConfigError

SETTINGS_FILE = "fleet.toml"
ENV_PREFIX = "FLEET_"
_RESERVED_ENV = {"FLEET_HOME", "FLEET_VAULT_KEY"}

M = TypeVar("M", bound=pydantic.BaseModel)


def default_home() -> Path:
    """The data directory when neither `--home` nor `FLEET_HOME` says otherwise."""
    return Path.home() / ".local" / "share" / "fleet"


def resolve_home(home: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """`home` if given, else `FLEET_HOME`, else the default; always absolute."""
    env = os.environ if environ is None else environ
    if home is not None:
        return Path(home).expanduser().resolve()
    if env.get("FLEET_HOME"):
        return Path(env["FLEET_HOME"]).expanduser().resolve()
    return default_home()


def _coerce(text: str) -> Any:
    """An environment value as TOML would read it (numbers, booleans, arrays), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`FLEET_A__B__C=v` -> {"a": {"b": {"c": v}}}; `FLEET_X=v` -> {"x": v}."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _RESERVED_ENV:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = tree
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(
                    f"environment variable {name} conflicts with another FLEET_ setting"
                )
            node = nxt
        node[parts[-1]] = _coerce(value)
    return tree


def deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: `top` over `base`, tables merged key by key."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = dict(value) if isinstance(value, Mapping) else value
    return out


class RegistrySettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    url: str | None = None  # default: sqlite file under the data directory


class VaultSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    key_file: str = "vault.key"


@dataclass
class Settings:
    """The merged settings of one data directory."""

    home: Path
    data: dict[str, Any] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        home: Path | str | None = None,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Read `fleet.toml` (if present), then environment, then `overrides`."""
        env = dict(os.environ if environ is None else environ)
        root = resolve_home(home, env)
        data: dict[str, Any] = {}
        path = root / SETTINGS_FILE
        if path.exists():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: {exc}", path=path) from exc
        data = deep_merge(data, env_overrides(env))
        if overrides:
            data = deep_merge(data, overrides)
        return cls(home=root, data=data, environ=env, overrides=dict(overrides or {}))

    def reload(self) -> None:
        """Re-read fleet.toml (after a change), keeping this environment and overrides."""
        self.data = Settings.load(self.home, self.overrides, self.environ).data

    @property
    def file(self) -> Path:
        return self.home / SETTINGS_FILE

    def section(self, name: str, model: type[M]) -> M:
        """Section `name` (dotted for nested tables) validated by `model`."""
        raw: Any = self.data
        for part in name.split("."):
            raw = raw.get(part, {}) if isinstance(raw, dict) else {}
        try:
            return model.model_validate(raw)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(problems, section=name) from exc

    def raw_section(self, name: str) -> dict[str, Any] | None:
        """Section `name` as a plain dict, or None when the settings have no such table."""
        raw: Any = self.data
        for part in name.split("."):
            if not isinstance(raw, dict) or part not in raw:
                return None
            raw = raw[part]
        return dict(raw) if isinstance(raw, dict) else None

    @property
    def registry(self) -> RegistrySettings:
        return self.section("registry", RegistrySettings)

    @property
    def vault(self) -> VaultSettings:
        return self.section("vault", VaultSettings)

    @property
    def registry_url(self) -> str:
        return self.registry.url or f"sqlite:///{self.home / 'registry.sqlite3'}"

    @property
    def vault_key_file(self) -> Path:
        p = Path(self.vault.key_file).expanduser()
        return p if p.is_absolute() else self.home / p

    def path(self, name: str) -> Path:
        """A path under the data directory."""
        return self.home / name


def read_file_settings(home: Path) -> dict[str, Any]:
    """The settings file alone (no environment), for editing."""
    path = home / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}", path=path) from exc


def write_file_setting(home: Path, dotted: str, value: Any) -> None:
    """Set `dotted` (e.g. `site.wifi.ssid`) in `fleet.toml`, atomically (write aside, rename)."""
    data = read_file_settings(home)
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{dotted}: {part} is a value, not a table")
        node = nxt
    node[parts[-1]] = value
    path = home / SETTINGS_FILE
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
