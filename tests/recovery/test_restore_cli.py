"""`fleet restore --layer`: beside the live site, never over it unless told."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fleet.recovery.steps import tree_facts

from .conftest import FLEET_EXE, DemoSite


def test_restore_layer_into_a_target_and_refuse_a_non_empty_one(
    demo_site: DemoSite, tmp_path: Path
) -> None:
    """A file layer restores into an empty target; a non-empty target or a live database with
    data is refused (exit 73) and left as it was; --move-aside keeps the old content; PITR
    without a base backup is refused with the reason."""
    demo_site.backup()
    target = tmp_path / "laravel-restored"
    done = demo_site.fleet("restore", "--layer", "laravel", "--target", str(target), "--json")
    assert 0 == done.returncode, done.stderr
    assert tree_facts(demo_site.root / "laravel") == tree_facts(target)
    (target / "note.txt").write_text("mine\n")
    again = demo_site.fleet("restore", "--layer", "laravel", "--target", str(target))
    assert 73 == again.returncode
    assert "mine\n" == (target / "note.txt").read_text()
    aside = demo_site.fleet(
        "restore", "--layer", "laravel", "--target", str(target), "--move-aside", "--json"
    )
    assert 0 == aside.returncode, aside.stderr
    moved = Path(json.loads(aside.stdout)["moved_aside"])
    assert "mine\n" == (moved / "note.txt").read_text()
    db = demo_site.db_state()
    live = demo_site.fleet("restore", "--layer", "postgres", "--dsn", demo_site.cluster.url())
    assert 73 == live.returncode, live.stderr
    assert db == demo_site.db_state()
    pitr = demo_site.fleet("restore", "--layer", "postgres", "--to-latest", "--json")
    assert (66, "the repository holds no postgres base backup (set base_backup = true)") == (
        pitr.returncode,
        json.loads(pitr.stdout)["message"],
    )


def test_restore_needs_a_target_and_one_pitr_goal(tmp_path: Path) -> None:
    """Without --target (file layer), or with two PITR goals, nothing runs and the exit is 2."""

    def fleet(*args: str) -> int:
        run = subprocess.run([str(FLEET_EXE), "--home", str(tmp_path), *args], check=False)
        return run.returncode

    assert 2 == fleet("restore", "--layer", "laravel")
    assert 2 == fleet("restore", "--layer", "postgres", "--to-latest", "--to-lsn", "0/1")
    assert 2 == fleet("restore", "--layer", "laravel", "--to-latest")
    assert [] == list(tmp_path.iterdir())
