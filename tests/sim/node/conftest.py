"""Fixtures for MQTT tests: a real Mosquitto on a free loopback port, stopped by PID.

Other areas can use the same broker: `from fleet.sim.broker import start_broker`, or copy
these three-line fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.sim.broker import Broker, start_broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto without persistence (the upstream dev config)."""
    b = start_broker(tmp_path / "mosquitto")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto with persistence on (the production config)."""
    b = start_broker(tmp_path / "mosquitto", persistence=True)
    try:
        yield b
    finally:
        b.close()
