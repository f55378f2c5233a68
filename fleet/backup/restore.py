"""Restoring one layer of a snapshot (the library half of `fleet restore ... --layer L`)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.backup import agecrypt
from fleet.backup.layer import RestoreOptions, RestoreResult
from fleet.backup.repository import Repository
from fleet.backup.runner import build_handler, layer_env
from fleet.backup.settings import backup_settings
from fleet.errors import ConfigError, LayerError, NotFound
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


@dataclass(frozen=True)
class CommandResult:
    """One post-restore command: what ran, its exit status, the tail of its output."""

    command: str
    returncode: int
    output_tail: str


def post_restore_commands(settings: Settings, layer: str) -> list[str]:
    """`[layers.<layer>] post_restore`: commands to run after restoring that layer live."""
    raw = settings.raw_section(f"layers.{layer}") or {}
    commands = raw.get("post_restore", [])
    if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
        raise ConfigError(f"layers.{layer}.post_restore must be a list of command strings")
    return list(commands)


def run_post_restore(
    settings: Settings, layer: str, target: Path, timeout: float = 600.0
) -> list[CommandResult]:
    """Run the layer's post-restore commands in order (shell, cwd `target`, with
    `FLEET_RESTORE_TARGET` and `FLEET_RESTORE_LAYER` set); stop at the first failure.

    E.g. `php artisan migrate --force`, `systemctl restart mosquitto`. Never run these for
    a drill (they act on the live site). Raises `LayerError` naming the failed command and
    how many commands succeeded before it.
    """
    done: list[CommandResult] = []
    env = {**os.environ, "FLEET_RESTORE_TARGET": str(target), "FLEET_RESTORE_LAYER": layer}
    for command in post_restore_commands(settings, layer):
        try:
            proc = subprocess.run(
                command,
                shell=True,
                cwd=target if target.is_dir() else None,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            result = CommandResult(command, proc.returncode, (proc.stdout + proc.stderr)[-500:])
        except subprocess.TimeoutExpired:
            result = CommandResult(command, -1, f"timed out after {timeout:.0f} s")
        done.append(result)
        if result.returncode != 0:
            raise LayerError(
                layer,
                f"post-restore command {command!r} failed (exit {result.returncode})",
                done=len(done) - 1,
            )
    return done
