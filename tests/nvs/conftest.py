"""Fixtures of the NVS tests: the generator's file API and its CLI, run for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from esp_idf_nvs_partition_gen import nvs_partition_gen as gen

from fleet.context import FleetContext
from fleet.home import init_home
from fleet.protocol.ids import NODE_TYPES as ALL_NODE_TYPES
from fleet.registry import NodeSpec
from fleet.registry.importing import ImportRow, import_rows
from fleet.settings import Settings
from fleet.sim import cli as fleet_cli

MakeImage = Callable[..., bytes]


@pytest.fixture
def generator_file_api(tmp_path: Path) -> MakeImage:
    """Make an image with the generator's file API (`generate`) from CSV text."""

    def make(csv_text: str, size: int = 0x6000, version: int = 2) -> bytes:
        csv_path = tmp_path / "file_api.csv"
        csv_path.write_text(csv_text, encoding="utf-8")
        out = tmp_path / "file_api.bin"
        args = SimpleNamespace(
            input=[str(csv_path)],
            output=str(out),
            size=hex(size),
            version=version,
            outdir=str(tmp_path),
        )
        gen.generate(args)
        return out.read_bytes()

    return make


@pytest.fixture
def generator_cli(tmp_path: Path) -> MakeImage:
    """Make an image by running the generator's command line once (`generate` or `encrypt`)."""

    def make(
        csv_text: str, size: int = 0x6000, version: int = 2, keyfile: Path | None = None
    ) -> bytes:
        csv_path = tmp_path / "cli.csv"
        csv_path.write_text(csv_text, encoding="utf-8")
        out = tmp_path / "cli.bin"
        cmd = [sys.executable, "-m", "esp_idf_nvs_partition_gen"]
        verb = "generate" if keyfile is None else "encrypt"
        cmd += [verb, str(csv_path), str(out), hex(size), "--version", str(version)]
        if keyfile is not None:
            cmd += ["--inputkey", str(keyfile)]
        cmd += ["--outdir", str(tmp_path)]
        subprocess.run(cmd, check=True, capture_output=True, cwd=tmp_path, timeout=120)
        return out.read_bytes()

    return make


# Every hydro 2.0 node type that has a NodeConfig template (all but "unknown").
NODE_TYPES = tuple(t for t in ALL_NODE_TYPES if t != "unknown")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FLEET_"):
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An initialised data directory."""
    h = tmp_path / "home"
    init_home(Settings.load(h, environ={}))
    return h


def open_ctx(home: Path) -> FleetContext:
    """A fresh context (re-reads fleet.toml)."""
    return FleetContext.open(settings=Settings.load(home, environ={}))


@pytest.fixture
def site_home(home: Path) -> Iterator[Path]:
    """A data directory with site Wi-Fi/MQTT values set and one node of every type."""
    ctx = open_ctx(home)
    from fleet.nvs import site

    for key, value in (
        ("wifi.ssid", "hydro-net"),
        ("wifi.pass", "wifi-pass-7f3a"),
        ("mqtt.host", "192.168.1.10"),
        ("mqtt.port", "1883"),
        ("mqtt.username", "node"),
        ("mqtt.password", "mqtt-pass-c41d"),
    ):
        site.set_value(ctx, key, value)
    rows = [
        ImportRow(
            NodeSpec(
                uid=f"nd-{t.replace('_', '-')}-1",
                gh_uid="gh-1",
                zone_uid="zn-1",
                node_type=t,
                hardware_id=f"esp32-{i:012x}",
            ),
            None,
        )
        for i, t in enumerate(NODE_TYPES)
    ]
    import_rows(ctx.registry, ctx.vault, rows, "test")
    ctx.registry.engine.dispose()
    yield home


@pytest.fixture
def ctx(site_home: Path) -> Iterator[FleetContext]:
    """A context on `site_home`."""
    c = open_ctx(site_home)
    yield c
    c.registry.engine.dispose()


@pytest.fixture
def run_fleet() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `fleet` executable: run_fleet(home, *args, stdin=None)."""
    return fleet_cli.run_fleet
