"""`FleetContext`: settings, registry and vault of one data directory, opened together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.errors import ConfigError
from fleet.registry import Registry
from fleet.settings import Settings
from fleet.vault import Keyring, Vault


@dataclass
class FleetContext:
    settings: Settings
    registry: Registry
    vault: Vault

    @classmethod
    def open(
        cls,
        home: Path | str | None = None,
        settings: Settings | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> FleetContext:
        """Open the data directory (it must have been set up by `fleet init`)."""
        s = settings or Settings.load(home, overrides)
        if not s.home.exists():
            raise ConfigError(f"data directory {s.home} does not exist (run `fleet init`)")
        registry = Registry.open(s.registry_url)
        keyring = Keyring.load(s.vault_key_file, s.environ)
        return cls(s, registry, Vault(registry, keyring))

    @property
    def home(self) -> Path:
        return self.settings.home
