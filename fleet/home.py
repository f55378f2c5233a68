"""Setting up a data directory: `fleet init`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fleet.registry.db import make_engine, migrate
from fleet.settings import SETTINGS_FILE, Settings
from fleet.vault.keys import new_key, write_key_file

DEFAULT_SETTINGS = """\
# fleet settings. Every value can also be set as FLEET_<SECTION>__<KEY>, e.g.
# FLEET_SERVICE__STALE_AFTER=30. Passwords never go here: `fleet site set` puts them
# in the vault.

[registry]
# url = "postgresql://fleet@127.0.0.1/fleet"   # default: registry.sqlite3 in this folder

[vault]
key_file = "vault.key"   # mode 0600; or set FLEET_VAULT_KEY

[service]
# broker = "mqtt://127.0.0.1:1883"
# stale_after = 45
# offline_after = 120
"""


@dataclass(frozen=True)
class InitResult:
    home: Path
    settings_created: bool
    key_created: bool
    registry_url: str


def init_home(settings: Settings) -> InitResult:
    """Create the data directory, settings file, registry and vault key; idempotent.

    An existing settings file or key is never overwritten.
    """
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    settings_path = home / SETTINGS_FILE
    settings_created = False
    if not settings_path.exists():
        settings_path.write_text(DEFAULT_SETTINGS, encoding="utf-8")
        settings_created = True
    engine = make_engine(settings.registry_url)
    migrate(engine)
    engine.dispose()
    key_created = False
    key_file = settings.vault_key_file
    if not key_file.exists() and not settings.environ.get("FLEET_VAULT_KEY"):
        write_key_file(key_file, new_key())
        key_created = True
    return InitResult(home, settings_created, key_created, _safe_url(settings.registry_url))


def _safe_url(url: str) -> str:
    """The registry URL with any password masked."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
