"""Pure parts of site recovery: the plan, the journal, putting files back, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.errors import ConfigError
from fleet.recovery.journal import DONE, RUNNING, Journal
from fleet.recovery.plan import build_plan, step_names
from fleet.recovery.settings import recovery_settings
from fleet.recovery.steps import put_back
from fleet.settings import Settings


def test_plan_follows_the_seed_order_and_says_why_a_step_is_skipped() -> None:
    """Steps come in the seed's order; absent, failed and target-less layers are skipped."""
    plan = build_plan(
        {"fleet": "ok", "postgres": "ok", "laravel": "failed", "mosquitto": "ok"},
        {"mosquitto": ["systemctl restart mosquitto"]},
        None,
    )
    assert [
        "fleet",
        "infrastructure",
        "postgres",
        "laravel",
        "python_service",
        "mosquitto",
        "reboot",
        "station",
    ] == [s.name for s in plan]
    assert {
        "infrastructure": "layer docker is not in the snapshot",
        "postgres": "no [layers.postgres] dsn to restore into",
        "laravel": "layer laravel failed in the snapshot",
        "python_service": "layer python_service is not in the snapshot",
    } == {s.name: s.skip for s in plan if s.skip}
    assert ("systemctl restart mosquitto",) == plan[5].commands


def test_journal_survives_a_reopen_and_keeps_notes(tmp_path: Path) -> None:
    """A step begun but not finished reads back as running, with its notes and attempts."""
    j = Journal.open(tmp_path, "20261127T000000Z-abcdef", step_names())
    j.begin("fleet")
    j.finish("fleet", {"items": []})
    j.begin("postgres")
    j.note("postgres", preexisting=["hydro"])
    again = Journal.open(tmp_path, "20261127T000000Z-abcdef", step_names())
    assert (DONE, RUNNING, 1, ["hydro"]) == (
        again.steps["fleet"].state,
        again.steps["postgres"].state,
        again.steps["postgres"].attempts,
        again.steps["postgres"].notes["preexisting"],
    )
    assert not again.complete


def test_put_back_moves_differing_content_aside_and_leaves_equal_content(tmp_path: Path) -> None:
    """Different content is renamed aside (never deleted); equal content is left unchanged."""
    staged, dest = tmp_path / "staged", tmp_path / "site" / ".env"
    staged.write_text("A=1\n")
    dest.parent.mkdir()
    dest.write_text("A=2\n")
    out = put_back(staged, dest, "t1")
    assert ("restored", "A=1\n", "A=2\n") == (
        out["result"],
        dest.read_text(),
        Path(out["aside"]).read_text(),
    )
    (tmp_path / "again").write_text("A=1\n")
    assert "unchanged" == put_back(tmp_path / "again", dest, "t2")["result"]
    (tmp_path / "other").write_text("B\n")
    assert "kept" == put_back(tmp_path / "other", dest, "t3", only_missing=True)["result"]


def test_post_restore_key_generate_is_refused(tmp_path: Path) -> None:
    """A post-restore command running `php artisan key:generate` is a configuration error."""
    settings = Settings(
        home=tmp_path,
        data={"recovery": {"post_restore": {"laravel": ["php artisan key:generate --force"]}}},
        environ={},
    )
    with pytest.raises(ConfigError, match="key:generate"):
        recovery_settings(settings)
