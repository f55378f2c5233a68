"""The simulator's MQTT framing: packets split or glued by TCP are read correctly."""

from __future__ import annotations

import asyncio

from fleet.sim.node.wire import MqttConnection, encode_connect, encode_publish


def feed(chunks: list[bytes]) -> list[tuple[str, bytes]]:
    async def run() -> list[tuple[str, bytes]]:
        got: list[tuple[str, bytes]] = []
        conn = MqttConnection("t", lambda t, p: got.append((t, p)))
        for chunk in chunks:
            conn.data_received(chunk)
        return got

    return asyncio.run(run())


def test_publish_split_byte_by_byte_is_reassembled() -> None:
    """A 300-byte payload (two-byte length) arriving one byte at a time is one message."""
    packet = encode_publish(b"hydro/a/b/c/heartbeat", b"x" * 300, qos=0, retain=False, packet_id=0)
    assert [("hydro/a/b/c/heartbeat", b"x" * 300)] == feed([bytes([b]) for b in packet])


def test_glued_packets_are_all_delivered_in_order() -> None:
    """Several PUBLISH packets in one read come out in order, QoS 0 and 1 alike."""
    one = encode_publish(b"t/1", b"a", qos=0, retain=False, packet_id=0)
    two = encode_publish(b"t/2", b"bb", qos=1, retain=True, packet_id=7)
    assert [("t/1", b"a"), ("t/2", b"bb")] == feed([one + two])


def test_connect_packet_carries_the_will() -> None:
    """CONNECT with a will sets the will flags (QoS 1, retain) and names topic and payload."""
    from fleet.sim.node.wire import Will

    packet = encode_connect("esp32-aabbccddeeff", 30, Will("hydro/g/z/n/lwt", b"offline"))
    flags = packet[2 + 2 + 4 + 1]  # fixed header, "MQTT" string, level
    assert (0x2E, True) == (flags, packet.endswith(b"offline"))
