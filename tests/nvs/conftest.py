"""Fixtures of the NVS tests: the generator's file API and its CLI, run for real."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from esp_idf_nvs_partition_gen import nvs_partition_gen as gen

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
