"""Fixtures for the foundation tests: an initialised data directory per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.settings import Settings

FLEET_EXE = Path(sys.executable).parent / "fleet"


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


def _run_fleet(
    home: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real `fleet` executable against `home`."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    e.update(env or {})
    e["COLUMNS"] = "200"
    return subprocess.run(
        [str(FLEET_EXE), "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=e,
        input=stdin,
        check=False,
        timeout=120,
    )


@pytest.fixture
def run_fleet() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `fleet` executable: run_fleet(home, *args, env=None, stdin=None)."""
    return _run_fleet
