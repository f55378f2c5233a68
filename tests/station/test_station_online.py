"""With --wait-online the station reports a flashed node only when it is back ONLINE on MQTT."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.flashing.station import Station
from fleet.flashing.station_job import JobOptions, Outcome
from fleet.sim.broker import Broker, start_broker
from fleet.sim.esp32 import VirtualEsp32, serve_devices
from fleet.sim.esp32.online import OnlineBoards
from tests.station.conftest import NODES


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto on a free loopback port, stopped by PID afterwards."""
    b = start_broker(tmp_path / "mosquitto")
    try:
        yield b
    finally:
        b.close()


def _run(home: Path, url: str, broker: Broker, wait: float) -> Outcome:
    options = JobOptions(home=str(home), wait_online=wait, broker=broker.url)
    station = Station(options, [url], scan_usb=False, once=True, poll_interval=0.2)
    (result,) = station.run().final()
    assert (wait > 0) == (result.online is not None)
    return result.outcome


def test_flashed_board_seen_online(home: Path, mosquitto: Broker) -> None:
    """The board boots as its node, the node connects to the broker: the job is flashed."""
    _uid, _kind, chip, mac = NODES[2]
    device = VirtualEsp32(chip, mac)
    online = OnlineBoards(broker_override=(mosquitto.host, mosquitto.port))
    online.attach(device)
    try:
        with serve_devices([device]) as server:
            assert Outcome.FLASHED == _run(home, server.urls[0], mosquitto, 20)
    finally:
        online.close()
    assert [] == online.errors


def test_board_that_never_comes_online_is_reported(home: Path, mosquitto: Broker) -> None:
    """Written and verified but silent on MQTT: the job ends as not_online, not flashed."""
    _uid, _kind, chip, mac = NODES[3]
    device = VirtualEsp32(chip, mac)
    with serve_devices([device]) as server:
        assert Outcome.NOT_ONLINE == _run(home, server.urls[0], mosquitto, 1.5)
