"""Settings of the backup area: the `[backup]` table and its `[backup.retention]` sub-table."""

from __future__ import annotations

from pathlib import Path

import pydantic

from fleet.errors import ConfigError
from fleet.settings import Settings


class RetentionSettings(pydantic.BaseModel):
    """How long snapshots are kept. A missing, zero or negative value is *no rule*, never 0.

    Defaults are the seed's: full snapshots 30 days (WAL: 7 days, applied by the WAL archive).
    """

    model_config = pydantic.ConfigDict(extra="ignore")
    keep_days: int | None = 30
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_last: int | None = None
    wal_days: int | None = 7


class BackupSettings(pydantic.BaseModel):
    """`[backup]`: where snapshots go and to whom they are encrypted.

    Other areas (the WAL archive) read more keys of this table, hence `extra="ignore"`.
    """

    model_config = pydantic.ConfigDict(extra="ignore")
    repository: str | None = None
    recipients: list[str] = []
    identity: str | None = None
    site: str | None = None
    zstd_level: int = 3
    parallel_layers: int = 2  # layers backed up at once (each is still one stream at a time)
    retention: RetentionSettings = RetentionSettings()

    def repository_path(self, home: Path) -> Path:
        """The repository folder (relative paths are under the data directory)."""
        if not self.repository:
            raise ConfigError("backup.repository is not set (the folder snapshots go to)")
        path = Path(self.repository).expanduser()
        return path if path.is_absolute() else home / path

    def identity_path(self, home: Path) -> Path | None:
        """The age identity file, if configured (relative paths are under the data directory)."""
        if not self.identity:
            return None
        path = Path(self.identity).expanduser()
        return path if path.is_absolute() else home / path


def backup_settings(settings: Settings) -> BackupSettings:
    """The `[backup]` section of `settings`, validated."""
    return settings.section("backup", BackupSettings)
