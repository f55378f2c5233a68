"""Restoring one layer of a snapshot (the library half of `fleet restore ... --layer L`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.backup import agecrypt
from fleet.backup.layer import RestoreOptions, RestoreResult
from fleet.backup.repository import Repository
from fleet.backup.runner import build_handler, layer_env
from fleet.backup.settings import backup_settings
from fleet.errors import ConfigError, NotFound
from fleet.settings import Settings


def load_identity(settings: Settings, identity: Path | None = None) -> Any:
    """The age identity: `identity` if given, else `[backup] identity`; `ConfigError` if none."""
    cfg = backup_settings(settings)
    path = identity or cfg.identity_path(settings.home)
    if path is None:
        raise ConfigError(
            "reading a snapshot needs the age identity: pass it or set backup.identity"
        )
    return agecrypt.load_identity(path)


def restore_layer(
    settings: Settings,
    snapshot: str | None,
    layer: str,
    target: Path,
    identity: Path | None = None,
    move_aside: bool = False,
    params: dict[str, Any] | None = None,
) -> RestoreResult:
    """Restore `layer` of `snapshot` (None or `latest`: the newest) into `target`.

    The handler is built from the current `[layers.<layer>]` settings when present, else
    from its defaults where it has them. `NotFound` if the snapshot has no such layer;
    `CorruptData`/`VaultError` for damage or a wrong identity (named); `Conflict` for a
    non-empty target without `move_aside`. Nothing outside `target` is written.
    """
    cfg = backup_settings(settings)
    repo = Repository(cfg.repository_path(settings.home))
    sid = repo.resolve(snapshot)
    man = repo.manifest(sid)
    if layer not in man.layers or man.layers[layer].status != "ok":
        have = ", ".join(k for k, v in man.layers.items() if v.status == "ok")
        raise NotFound(f"snapshot {sid} holds no good copy of layer {layer!r} (has: {have})")
    ident = load_identity(settings, identity)
    handler = build_handler(settings, layer, layer_env(settings, cfg))
    artifacts = repo.stored_artifacts(sid, layer, ident)
    options = RestoreOptions(target=target, move_aside=move_aside, params=params or {})
    return handler.restore(artifacts, options)
