"""Fixtures of the re-registration tests: a fleet home with nodes, the backend double, a token."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.nvs import site
from fleet.registry import NodeSpec
from fleet.registry.importing import ImportRow, import_rows
from fleet.reregister.run import ReregisterReport, reregister
from fleet.reregister.settings import backend_settings
from fleet.settings import Settings
from fleet.sim import cli as fleet_cli
from fleet.sim.backend import BackendDouble

TOKEN = "test-token-5b1e0c"
WINDOW = 2.0  # the backend's minute, scaled down


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FLEET_"):
            monkeypatch.delenv(name)


def open_ctx(home: Path) -> FleetContext:
    """A fresh context on `home` (re-reads fleet.toml)."""
    return FleetContext.open(settings=Settings.load(home, environ={}))


def node_spec(i: int) -> NodeSpec:
    """Node number `i`: every fifth a light node on an ESP32-C3, the rest pH nodes on ESP32."""
    light = i % 5 == 0
    return NodeSpec(
        uid=f"nd-{'light' if light else 'ph'}-{i}",
        gh_uid="gh-1",
        zone_uid="zn-1",
        node_type="light" if light else "ph",
        hardware_id=f"esp32-{0xA0_0000_0000 + i:012x}",
        chip="esp32c3" if light else "esp32",
        fw_version="1.4.2",
    )


MakeHome = Callable[..., Path]


@pytest.fixture
def token() -> str:
    """The token the double accepts."""
    return TOKEN


@pytest.fixture
def make_home(tmp_path: Path) -> MakeHome:
    """make_home(n, url=None, window=WINDOW): a data directory with site values and n nodes."""

    def make(n: int, url: str | None = None, window: float = WINDOW, **backend: object) -> Path:
        home = tmp_path / "home"
        init_home(Settings.load(home, environ={}))
        ctx = open_ctx(home)
        for key, value in (
            ("wifi.ssid", "hydro-net"),
            ("wifi.pass", "wifi-pass-7f3a"),
            ("mqtt.host", "192.168.1.10"),
            ("mqtt.port", "1883"),
        ):
            site.set_value(ctx, key, value)
        import_rows(ctx.registry, ctx.vault, [ImportRow(node_spec(i), None) for i in range(n)], "t")
        ctx.registry.engine.dispose()
        cfg: dict[str, object] = {
            "window_seconds": window,
            "backoff_base": 0.05,
            "backoff_max": 0.5,
            "timeout": 5.0,
            **backend,
        }
        if url:
            cfg["url"] = url
        settings_file = home / "fleet.toml"
        text = settings_file.read_text(encoding="utf-8") if settings_file.exists() else ""
        settings_file.write_text(text + "\n" + tomli_w.dumps({"backend": cfg}), encoding="utf-8")
        return home

    return make


@pytest.fixture
def double() -> Iterator[BackendDouble]:
    """The backend double on a free loopback port, limits per WINDOW seconds."""
    d = BackendDouble(TOKEN, window=WINDOW)
    d.start()
    yield d
    d.stop()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """A 0600 file holding the right token."""
    path = tmp_path / "backend.token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


RunFleet = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_fleet() -> RunFleet:
    """Run the real `fleet` executable: run_fleet(home, *args, env=None)."""
    return fleet_cli.run_fleet


RunLib = Callable[..., ReregisterReport]


@pytest.fixture
def run_lib() -> RunLib:
    """One library run on a home with its fleet.toml [backend]: run_lib(home, token=TOKEN, **kw)."""

    def run(home: Path, token: str = TOKEN, **kw: Any) -> ReregisterReport:
        ctx = open_ctx(home)
        try:
            cfg = backend_settings(Settings.load(home, environ={}))
            return reregister(ctx, cfg, token, **kw)
        finally:
            ctx.registry.engine.dispose()

    return run


@pytest.fixture
def lib_ctx() -> Iterator[Callable[[Path], FleetContext]]:
    """Open contexts on homes (disposed at teardown): lib_ctx(home)."""
    opened: list[FleetContext] = []

    def get(home: Path) -> FleetContext:
        opened.append(open_ctx(home))
        return opened[-1]

    yield get
    for c in opened:
        c.registry.engine.dispose()
