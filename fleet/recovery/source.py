"""A snapshot opened for restoring: repository, manifest, identity, and each layer's restore.

Shared by `fleet restore`, `fleet recover site` and `fleet drill`. File layers are put back
by their own handler's `restore` (D1's contract: into an empty or missing target, escapes
refused, SHA-256 checked); when the live settings lack the layer's table (a drill on another
machine, a rebuilt server) the tar artifacts are extracted by the same shared routine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyrage import x25519

from fleet.backup import agecrypt
from fleet.backup.layer import RestoreOptions, RestoreResult, StoredArtifact
from fleet.backup.layers._files import restore_tars
from fleet.backup.manifest import Manifest
from fleet.backup.repository import Repository
from fleet.backup.runner import build_handler, layer_env
from fleet.backup.settings import BackupSettings, backup_settings
from fleet.errors import ConfigError, CorruptData, NotFound
from fleet.settings import Settings

FILE_LAYERS = frozenset({"fleet", "docker", "laravel", "python_service", "mosquitto"})


@dataclass
class SnapshotSource:
    """One snapshot of the configured repository, ready to be restored from."""

    settings: Settings
    config: BackupSettings
    repo: Repository
    snapshot: str
    manifest: Manifest
    identity: x25519.Identity

    def layer_status(self) -> dict[str, str]:
        """{layer: "ok"|"failed"} as the manifest records it."""
        return {name: rec.status for name, rec in self.manifest.layers.items()}

    def artifacts(self, layer: str) -> list[StoredArtifact]:
        """The layer's artifacts, each openable as checked plaintext; NotFound if none."""
        arts = self.repo.stored_artifacts(self.snapshot, layer, self.identity)
        if not arts:
            raise NotFound(f"snapshot {self.snapshot} holds no artifact of layer {layer}")
        return arts

    def restore_files(self, layer: str, target: Path, move_aside: bool = False) -> RestoreResult:
        """Restore file layer `layer` into `target` (empty or missing, or moved aside)."""
        options = RestoreOptions(target=target, move_aside=move_aside)
        arts = self.artifacts(layer)
        try:
            handler = build_handler(self.settings, layer, layer_env(self.settings, self.config))
        except ConfigError:
            if layer == "fleet":
                raise
            return restore_tars(layer, arts, options)
        return handler.restore(arts, options)


def open_source(settings: Settings, snapshot: str | None) -> SnapshotSource:
    """Open `snapshot` (None or `latest`: the newest) of the `[backup]` repository.

    `ConfigError` when no repository or identity is configured, `NotFound` for an unknown
    snapshot, `CorruptData` when its manifest is damaged.
    """
    cfg = backup_settings(settings)
    repo = Repository(cfg.repository_path(settings.home))
    sid = repo.resolve(snapshot)
    manifest = repo.manifest(sid)
    ident_path = cfg.identity_path(settings.home)
    if ident_path is None:
        raise ConfigError(
            "backup.identity is not set: the age identity file that opens snapshots "
            "(bring it from where it is kept offline)"
        )
    identity = agecrypt.load_identity(ident_path)
    if not manifest.layers:
        raise CorruptData(f"snapshot {sid} records no layer")
    return SnapshotSource(settings, cfg, repo, sid, manifest, identity)
