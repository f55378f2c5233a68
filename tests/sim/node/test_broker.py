"""The Mosquitto launcher: real broker, same port across restarts, persistence kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import pytest

from fleet.errors import MissingPrerequisite
from fleet.sim import broker as broker_mod
from fleet.sim.broker import Broker

pytestmark = pytest.mark.mqtt


async def _publish_retained(b: Broker, topic: str, payload: bytes) -> None:
    async with aiomqtt.Client(b.host, b.port, identifier="t-pub") as client:
        await client.publish(topic, payload, qos=1, retain=True)


async def _read_retained(b: Broker, topic: str) -> bytes | None:
    async with aiomqtt.Client(b.host, b.port, identifier="t-sub") as client:
        await client.subscribe(topic, qos=1)
        try:
            async with asyncio.timeout(1.0):
                async for message in client.messages:
                    return bytes(message.payload)
        except TimeoutError:
            return None
    return None


def test_broker_delivers_retained_messages(broker: Broker) -> None:
    """A client can publish to the started broker and another reads the retained value."""
    asyncio.run(_publish_retained(broker, "t/broker/retained", b"ONLINE"))
    assert b"ONLINE" == asyncio.run(_read_retained(broker, "t/broker/retained"))


def test_hard_restart_keeps_port_and_loses_retained_without_persistence(broker: Broker) -> None:
    """kill -9 + restart comes back on the same port; without persistence retained is gone."""
    port = broker.port
    first_pid = broker.pid
    asyncio.run(_publish_retained(broker, "t/broker/gone", b"x"))
    broker.restart(hard=True)
    assert (port, True) == (broker.port, broker.pid != first_pid)
    assert None is asyncio.run(_read_retained(broker, "t/broker/gone"))


def test_saved_persistence_survives_kill(persistent_broker: Broker) -> None:
    """With persistence, a value saved before a kill -9 is retained after the restart."""
    asyncio.run(_publish_retained(persistent_broker, "t/broker/kept", b"v1"))
    persistent_broker.stop()  # a clean stop writes mosquitto.db
    persistent_broker.start()
    persistent_broker.kill()
    persistent_broker.start()
    assert b"v1" == asyncio.run(_read_retained(persistent_broker, "t/broker/kept"))


def test_stop_ends_the_process_by_pid(tmp_path: Path) -> None:
    """close() stops the broker process; the port no longer accepts connections."""
    b = broker_mod.start_broker(tmp_path / "m")
    proc = b.process
    b.close()
    assert proc is not None
    assert (False, True) == (b.running, proc.returncode is not None)
    assert False is broker_mod._port_open(b.host, b.port)


def test_missing_binary_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without mosquitto on the machine the error says which apt-get line installs it."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(broker_mod, "_SEARCH_PATHS", ())
    with pytest.raises(MissingPrerequisite) as info:
        broker_mod.start_broker()
    assert "apt-get install -y mosquitto" in info.value.message
    assert 69 == info.value.exit_code


def test_frozen_broker_delivers_after_thaw(broker: Broker) -> None:
    """freeze() holds messages like a network outage; thaw() delivers them."""

    async def scenario() -> bytes | None:
        async with aiomqtt.Client(broker.host, broker.port, identifier="t-frozen") as client:
            await client.subscribe("t/frozen", qos=1)
            broker.freeze()
            try:
                pub = asyncio.create_task(_publish_retained(broker, "t/frozen", b"late"))
                await asyncio.sleep(0.3)
                assert False is pub.done()
            finally:
                broker.thaw()
            await pub
            async with asyncio.timeout(5):
                async for message in client.messages:
                    return bytes(message.payload)
        return None

    assert b"late" == asyncio.run(scenario())
