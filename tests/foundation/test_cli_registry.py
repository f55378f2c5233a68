"""Every command listed in the CLI's registry loads and has help."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fleet.cli.main import _GROUPS, app, load_command

NAMES = [group or module for module, group, _ in _GROUPS]


@pytest.mark.parametrize("name", NAMES)
def test_each_command_loads_and_explains_itself(name: str) -> None:
    """`fleet NAME --help` works for every registered command and group."""
    cmd = load_command(name)
    assert cmd is not None
    assert name == cmd.name
    result = CliRunner().invoke(app, [name, "--help"])
    assert 0 == result.exit_code, result.output
    assert "Usage" in result.output


def test_names_are_unique() -> None:
    """No two registry entries claim the same command name."""
    assert len(NAMES) == len(set(NAMES))
