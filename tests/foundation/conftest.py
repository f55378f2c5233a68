"""Fixtures for the foundation tests: an initialised data directory per test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.settings import Settings
from fleet.sim import cli as fleet_cli


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FLEET_"):
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    init_home(Settings.load(h, environ={}))
    return h


@pytest.fixture
def ctx(home: Path) -> Iterator[FleetContext]:
    c = FleetContext.open(settings=Settings.load(home, environ={}))
    yield c
    c.registry.engine.dispose()


@pytest.fixture
def run_fleet() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `fleet` executable: run_fleet(home, *args, env=None, stdin=None)."""
    return fleet_cli.run_fleet
