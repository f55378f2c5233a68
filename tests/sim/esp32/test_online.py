"""A flashed virtual board comes up on a real Mosquitto as the node its NVS says it is."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.sim.broker import Broker, start_broker
from fleet.sim.esp32 import VirtualEsp32, serve_devices
from fleet.sim.esp32.online import broker, sim_node
from fleet.sim.node.group import SimOptions
from fleet.sim.node.simulator import NodeSimulator
from fleet.sim.observer import Observer
from tests.sim.esp32.conftest import esptool
from tests.sim.esp32.test_boot import CONFIG, _flash_files


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto on a free loopback port, stopped by PID afterwards."""
    b = start_broker(tmp_path / "mosquitto")
    try:
        yield b
    finally:
        b.close()


def test_flashed_board_goes_online_as_its_node(tmp_path: Path, mosquitto: Broker) -> None:
    """After esptool flashes it and hangs up, the board's NodeConfig brings nd-ph-1 ONLINE."""
    config = {**CONFIG, "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "keepalive": 30}}
    device = VirtualEsp32("esp32", "24:0a:c4:aa:bb:11")
    with serve_devices([device]) as server:
        files = _flash_files(tmp_path, "esp32", config)
        out = esptool(server.urls[0], "write-flash", "-z", *files)
        assert 0 == out.returncode, out.stdout
        assert server.ports[0].wait_idle(5)
    boot = device.last_boot
    assert boot is not None
    node = sim_node(boot)
    assert ("127.0.0.1", mosquitto.port) == broker(boot)
    assert ("nd-ph-1", "gh-1", "zn-1", "ph", "esp32-240ac4aabb11") == (
        node.node_uid,
        node.gh_uid,
        node.zone_uid,
        node.node_type,
        node.hardware_id,
    )
    topic = "hydro/gh-1/zn-1/nd-ph-1/status"

    async def scenario() -> dict[str, object]:
        options = SimOptions(heartbeat_interval=0.5)
        async with (
            NodeSimulator(*broker(boot), [node], options),
            Observer(mosquitto, (topic,)) as obs,
        ):
            await obs.wait_for(lambda: obs.messages, what="status")
            payload: dict[str, object] = json.loads(obs.messages[0][1])
            return payload

    assert "ONLINE" == asyncio.run(scenario())["status"]
