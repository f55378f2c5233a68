"""Fixtures for firmware tests: small generated ESP-IDF bundles, one folder per test."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fleet.sim.firmware_gen import write_bundle

SMALL_APP = 120_000  # big enough for every segment kind, small enough to be quick


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Path]:
    """Build a bundle folder under tmp_path; keyword arguments go to write_bundle."""
    counter = iter(range(1000))

    def make(chip: str = "esp32", **kw: Any) -> Path:
        kw.setdefault("app_size", SMALL_APP)
        dest = tmp_path / f"bundle{next(counter)}"
        return write_bundle(dest, chip, **kw).path

    return make


def edit_args(bundle: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite the bundle's flasher_args.json through `edit`."""
    path = bundle / "flasher_args.json"
    args = json.loads(path.read_text())
    edit(args)
    path.write_text(json.dumps(args))


def app_path(bundle: Path) -> Path:
    """The app binary of a bundle."""
    args = json.loads((bundle / "flasher_args.json").read_text())
    return bundle / args["app"]["file"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An initialised data directory (registry + vault key) under tmp_path."""
    from fleet.home import init_home
    from fleet.settings import Settings

    path = tmp_path / "home"
    init_home(Settings.load(path, environ={}))
    return path


@pytest.fixture
def fctx(home: Path) -> Any:
    """A FleetContext on `home`."""
    from fleet.context import FleetContext
    from fleet.settings import Settings

    return FleetContext.open(settings=Settings.load(home, environ={}))
