"""Laravel layer: the backend's files that are neither in git nor in the database."""

from __future__ import annotations

from typing import ClassVar

import pydantic

from fleet.backup.layers._files import RootTreeLayer


class LaravelSettings(pydantic.BaseModel):
    """`[layers.laravel]`: `root` of the Laravel app; `extra`: more paths relative to it."""

    model_config = pydantic.ConfigDict(extra="forbid")
    root: str
    include_config_cache: bool = False
    extra: list[str] = []
    enabled: bool = True
    post_restore: list[str] = []  # shell commands run after a live restore (not in drills)


class LaravelLayer(RootTreeLayer):
    """Captures, relative to `root`: `.env` (required: it holds APP_KEY), `composer.lock`,
    `storage/app/ota/` (firmware files), `storage/app/public/`, with `include_config_cache`
    also `bootstrap/cache/config.php`, plus `extra`. Absent optional items are listed in the
    manifest as `absent`. Consistency: a plain file copy; a file changing while read fails
    the layer naming it. Needs nothing on PATH. Restore puts the tree back under the target
    exactly as captured (`.env` as it was: a restore never runs `key:generate`)."""

    name: ClassVar[str] = "laravel"
    settings_model: ClassVar[type[pydantic.BaseModel]] = LaravelSettings
    REQUIRED: ClassVar[tuple[str, ...]] = (".env",)
    OPTIONAL: ClassVar[tuple[str, ...]] = ("composer.lock", "storage/app/ota", "storage/app/public")

    def relative_paths(self) -> list[str]:
        """The captured paths, relative to `root`."""
        rels = super().relative_paths()
        if self.config.include_config_cache:
            rels.append("bootstrap/cache/config.php")
        return rels
