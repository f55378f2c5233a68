"""`restore_layer` (the library half of `fleet restore --layer`) and post-restore commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleet.backup.restore import restore_layer, run_post_restore
from fleet.backup.runner import run_backup
from fleet.errors import LayerError, NotFound


def test_restore_latest_layer_then_post_restore_commands_run_in_the_target(
    site: Any, tmp_path: Path
) -> None:
    """The newest snapshot's layer lands in the target; its post-restore commands run there."""
    site.config["backup"]["identity"] = str(site.identity_file)
    site.config["layers"]["python_service"]["post_restore"] = [
        'test -f .env && echo "$FLEET_RESTORE_LAYER" > restored.flag'
    ]
    settings = site.settings()
    run_backup(settings, only=["python_service"])
    target = tmp_path / "py"
    done = restore_layer(settings, None, "python_service", target)
    assert (str(target), False) == (done.target, done.moved_aside is not None)
    assert (site.root / "python/.env").read_bytes() == (target / ".env").read_bytes()
    results = run_post_restore(settings, "python_service", target)
    assert [0] == [r.returncode for r in results]
    assert "python_service\n" == (target / "restored.flag").read_text()


def test_failed_post_restore_command_is_named(site: Any, tmp_path: Path) -> None:
    """A failing post-restore command stops the sequence and is named."""
    site.config["layers"]["python_service"]["post_restore"] = ["true", "exit 3", "touch never"]
    settings = site.settings()
    with pytest.raises(LayerError, match=r"'exit 3' failed \(exit 3\)"):
        run_post_restore(settings, "python_service", tmp_path)
    assert not (tmp_path / "never").exists()


def test_restore_of_a_layer_the_snapshot_lacks_is_refused(site: Any, tmp_path: Path) -> None:
    """Asking for a layer that is not in the snapshot names what the snapshot has."""
    settings = site.settings()
    result = run_backup(settings, only=["python_service"])
    with pytest.raises(NotFound, match=r"\(has: python_service\)"):
        restore_layer(settings, result.snapshot, "laravel", tmp_path / "x", site.identity_file)
