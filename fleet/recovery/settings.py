"""Settings of disaster recovery: the `[recovery]` and `[drill]` tables.

```toml
[recovery]
# shell commands run after a layer is put back, in order, reported with exit code and time
post_restore = { laravel = ["cd /var/www/laravel && php artisan migrate --force"],
                 mosquitto = ["systemctl restart mosquitto"] }
command_timeout = 900

[drill]
scratch = "/var/tmp"      # parent of the drill's throwaway folders (default: system temp)
keep_scratch = false
```

A command that would regenerate Laravel's APP_KEY (`key:generate`) is refused: run after a
restored `.env` it makes everything encrypted with the restored key unreadable.
"""

from __future__ import annotations

from pathlib import Path

import pydantic

from fleet.errors import ConfigError
from fleet.settings import Settings

FORBIDDEN = ("key:generate",)


class RecoverySettings(pydantic.BaseModel):
    """`[recovery]`: per-layer post-restore commands and where the journal lives."""

    model_config = pydantic.ConfigDict(extra="ignore")
    post_restore: dict[str, list[str]] = {}
    command_timeout: float = 900.0
    journal_dir: str = "recovery"

    @pydantic.field_validator("post_restore")
    @classmethod
    def _no_key_generate(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for layer, commands in value.items():
            for cmd in commands:
                if any(bad in cmd for bad in FORBIDDEN):
                    raise ValueError(
                        f"post_restore.{layer}: {cmd!r} would replace the restored APP_KEY; "
                        "a restore never runs key:generate"
                    )
        return value

    def journal_path(self, home: Path) -> Path:
        """The folder holding recovery journals (relative paths are under the data directory)."""
        path = Path(self.journal_dir).expanduser()
        return path if path.is_absolute() else home / path


class DrillSettings(pydantic.BaseModel):
    """`[drill]`: where scratch folders go, whether they are kept, where results are recorded."""

    model_config = pydantic.ConfigDict(extra="ignore")
    scratch: str | None = None
    keep_scratch: bool = False
    results_dir: str = "drills"
    broker_check: bool = True
    broker_timeout: float = 10.0

    def results_path(self, home: Path) -> Path:
        """The folder of drill results (relative paths are under the data directory)."""
        path = Path(self.results_dir).expanduser()
        return path if path.is_absolute() else home / path


def recovery_settings(settings: Settings) -> RecoverySettings:
    """The validated `[recovery]` table; `ConfigError` naming the bad key."""
    return settings.section("recovery", RecoverySettings)


def drill_settings(settings: Settings) -> DrillSettings:
    """The validated `[drill]` table."""
    return settings.section("drill", DrillSettings)


def postgres_dsn(settings: Settings) -> str | None:
    """The live cluster's DSN from `[layers.postgres] dsn`, if configured."""
    raw = settings.raw_section("layers.postgres")
    if not raw or not raw.get("dsn"):
        return None
    dsn = raw["dsn"]
    if not isinstance(dsn, str):
        raise ConfigError("layers.postgres.dsn must be a string")
    return dsn
