"""Python service layer: the service's environment, secrets and configuration files."""

from __future__ import annotations

from typing import ClassVar

import pydantic

from fleet.backup.layers._files import RootTreeLayer


class PythonServiceSettings(pydantic.BaseModel):
    """`[layers.python_service]`: the service `root`; `extra`: more paths relative to it."""

    model_config = pydantic.ConfigDict(extra="forbid")
    root: str
    extra: list[str] = []
    enabled: bool = True
    post_restore: list[str] = []  # shell commands run after a live restore (not in drills)


class PythonServiceLayer(RootTreeLayer):
    """Captures, relative to `root`: `.env` (required), `secrets/` (e.g. `nodes.json`),
    `config/` (e.g. `config.yaml`), plus `extra`. Absent optional items are listed in the
    manifest as `absent`. Consistency: a plain file copy; a file changing while read fails
    the layer naming it. Needs nothing on PATH. Restore: the tree under the target."""

    name: ClassVar[str] = "python_service"
    settings_model: ClassVar[type[pydantic.BaseModel]] = PythonServiceSettings
    REQUIRED: ClassVar[tuple[str, ...]] = (".env",)
    OPTIONAL: ClassVar[tuple[str, ...]] = ("secrets", "config")
