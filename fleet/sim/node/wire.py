"""A lean MQTT 3.1.1 client on an asyncio protocol, for simulating many nodes cheaply.

Why not aiomqtt here: the simulator must publish ~6,700 heartbeats/s for 100,000 nodes,
and a publish through aiomqtt costs ~260 us (LESSONS.md); this client costs a few us
(bench/sim_publish.py measures both). It speaks just what a hydro 2.0 node needs:
CONNECT (with a last will), SUBSCRIBE, PUBLISH QoS 0/1 both ways (PUBACK for QoS 1),
PINGREQ keepalive, DISCONNECT, and an abrupt close that makes the broker publish the will.
QoS 1 publishes are not retransmitted (clean sessions; a lost connection loses them, as a
rebooting ESP32 would).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fleet.errors import BrokerError

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 0x82, 0x90, 0xC0, 0xD0, 0xE0
_CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}

MessageHandler = Callable[[str, bytes], None]


@dataclass(frozen=True)
class Will:
    """A last will: published by the broker when the connection drops without DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    raw = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("!H", len(raw)) + raw


def encode_publish(topic: bytes, payload: bytes, qos: int, retain: bool, packet_id: int) -> bytes:
    """One PUBLISH packet (topic already UTF-8 encoded)."""
    body_len = 2 + len(topic) + (2 if qos else 0) + len(payload)
    head = bytes([PUBLISH | (qos << 1) | (1 if retain else 0)]) + _varint(body_len)
    pid = struct.pack("!H", packet_id) if qos else b""
    return b"".join((head, struct.pack("!H", len(topic)), topic, pid, payload))


def encode_connect(client_id: str, keepalive: int, will: Will | None, clean: bool = True) -> bytes:
    """One CONNECT packet for MQTT 3.1.1."""
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _str(will.topic) + _str(will.payload)
    var = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive)
    body = var + payload
    return bytes([CONNECT]) + _varint(len(body)) + body


class MqttConnection(asyncio.Protocol):
    """One MQTT connection. Create with `await MqttConnection.open(...)`.

    Incoming PUBLISH packets go to `on_message(topic, payload)` synchronously, in order.
    `closed` completes when the connection ends, for whatever reason.
    """

    def __init__(self, client_id: str, on_message: MessageHandler | None) -> None:
        self.client_id = client_id
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._connack: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._ping_task: asyncio.Task[None] | None = None
        self.published = 0
        self.received = 0
        self._closing = False  # DISCONNECT sent: nothing more may be written
        self._unacked = 0  # QoS 1 publishes the broker has not acknowledged yet
        self._all_acked = asyncio.Event()
        self._all_acked.set()

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        client_id: str,
        *,
        on_message: MessageHandler | None = None,
        will: Will | None = None,
        keepalive: int = 60,
        timeout: float = 10.0,
    ) -> MqttConnection:
        """Connect and wait for CONNACK; raises BrokerError (naming host:port) on failure."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, proto = await loop.create_connection(
                    lambda: cls(client_id, on_message), host, port
                )
                proto._send(encode_connect(client_id, keepalive, will))
                code = await proto._connack
        except (OSError, TimeoutError) as exc:
            raise BrokerError(f"cannot connect to {host}:{port} as {client_id}: {exc}") from exc
        if code != 0:
            proto.abort()
            reason = _CONNACK_CODES.get(code, f"code {code}")
            raise BrokerError(f"{host}:{port} refused {client_id}: {reason}")
        if keepalive:
            proto._ping_task = asyncio.create_task(proto._pinger(keepalive), name="mqtt-ping")
        return proto

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._can_write.set()
        self._all_acked.set()
        if self._ping_task is not None:
            self._ping_task.cancel()
        err = BrokerError(f"connection of {self.client_id} lost: {exc or 'closed'}")
        if not self._connack.done():
            self._connack.set_exception(err)
            self._connack.exception()  # mark retrieved
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
                fut.exception()
        self._pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            length, mult, i, complete = 0, 1, pos + 1, False
            while i < end and i - pos <= 4:
                byte = buf[i]
                i += 1
                length += (byte & 0x7F) * mult
                mult *= 128
                if not byte & 0x80:
                    complete = True
                    break
            if not complete:
                if i - pos > 4:  # a remaining length longer than 4 bytes: not MQTT
                    self.abort()
                    return
                break
            if end - i < length:
                break
            self._packet(buf[pos], bytes(buf[i : i + length]))
            pos = i + length
        if pos:
            del buf[:pos]

    # -- packets ----------------------------------------------------------------------
    def _packet(self, header: int, body: bytes) -> None:
        kind = header & 0xF0
        if kind == PUBLISH:
            qos = (header >> 1) & 0x03
            tlen = struct.unpack_from("!H", body)[0]
            topic = body[2 : 2 + tlen].decode("utf-8", "replace")
            pos = 2 + tlen
            if qos:
                pid = body[pos : pos + 2]
                pos += 2
                self._send(bytes([PUBACK, 2]) + pid)
            self.received += 1
            if self.on_message is not None:
                self.on_message(topic, body[pos:])
        elif kind == CONNACK:
            if not self._connack.done():
                self._connack.set_result(body[1] if len(body) > 1 else 255)
        elif kind == PUBACK:
            self._unacked = max(0, self._unacked - 1)
            if not self._unacked:
                self._all_acked.set()
        elif kind == SUBACK & 0xF0:
            pid = struct.unpack_from("!H", body)[0]
            fut = self._pending.pop(pid, None)
            if fut is not None and not fut.done():
                fut.set_result(body[2:])

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self._closing:
            self.transport.write(data)

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def _pinger(self, keepalive: int) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while self.transport is not None:
                await asyncio.sleep(keepalive / 2)
                self._send(bytes([PINGREQ, 0]))

    # -- public API -------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True until the connection is closed or lost."""
        return self.transport is not None and not self._closing and not self.closed.done()

    def publish(
        self, topic: str | bytes, payload: bytes, qos: int = 1, retain: bool = False
    ) -> None:
        """Queue one PUBLISH (fire and forget; QoS 1 acks are consumed, not awaited)."""
        if self.transport is None or self._closing:
            return
        t = topic.encode("utf-8") if isinstance(topic, str) else topic
        self.transport.write(
            encode_publish(t, payload, qos, retain, self._packet_id() if qos else 0)
        )
        self.published += 1

    async def drain(self) -> None:
        """Wait while the socket's write buffer is over its high-water mark."""
        if not self._can_write.is_set():
            await self._can_write.wait()

    async def subscribe(self, topics: Iterable[str], qos: int = 1, batch: int = 200) -> None:
        """Subscribe to `topics` (in SUBSCRIBE packets of `batch` filters); wait for SUBACKs."""
        items = list(topics)
        waits: list[asyncio.Future[bytes]] = []
        for start in range(0, len(items), batch):
            pid = self._packet_id()
            body = struct.pack("!H", pid) + b"".join(
                _str(t) + bytes([qos]) for t in items[start : start + batch]
            )
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self._pending[pid] = fut
            self._send(bytes([SUBSCRIBE]) + _varint(len(body)) + body)
            waits.append(fut)
            await self.drain()
        granted = b"".join(await asyncio.gather(*waits))
        if 0x80 in granted:
            raise BrokerError(f"broker refused a subscription of {self.client_id}")

    async def disconnect(self, timeout: float = 5.0) -> None:
        """Clean close: DISCONNECT first, so the broker does NOT publish the will.

        Waits (up to `timeout`) for the acks of QoS 1 publishes and for the broker to
        close: closing with unread acks would reset the socket and make the broker drop
        publishes it has not read yet.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._all_acked.wait()
                if self.transport is not None:
                    self._send(bytes([DISCONNECT, 0]))
                    self._closing = True
                    if self.transport.can_write_eof():
                        self.transport.write_eof()
                await asyncio.shield(self.closed)
        if self.transport is not None:
            self.transport.close()
        await asyncio.shield(self.closed)

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker publishes the will."""
        if self.transport is not None:
            self.transport.abort()
