"""The broker connection: aiomqtt client, reconnect with jittered backoff, re-subscribe."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence

import aiomqtt

from fleet.errors import BrokerError
from fleet.service.backoff import Backoff
from fleet.service.config import BrokerAddress

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes, bool, float], None]


class DropCounter(logging.Filter):
    """Counts aiomqtt's "queue is full" discards instead of logging each one (a flood would
    otherwise cost more in logging than in handling); logs one line per 10,000."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Count and swallow a discard record (one in 10,000 passes, reworded)."""
        if record.msg == "Message queue is full. Discarding message.":
            self.dropped += 1
            if self.dropped % 10000 == 1:
                record.msg = "incoming queue full: dropping messages (%d so far)"
                record.args = (self.dropped,)
                return True
            return False
        return True


DROPS = DropCounter()  # process-wide: aiomqtt logs through one logger
_MQTT_LOG = logging.getLogger(f"{__name__}.aiomqtt")
_MQTT_LOG.addFilter(DROPS)


def default_client_id() -> str:
    """A client id unique per host and process (`fleet-serve-<host>-<pid>`)."""
    return f"fleet-serve-{socket.gethostname()[:20]}-{os.getpid()}"


class Connection:
    """One MQTT connection kept alive for the life of `run()`.

    Each (re)connect subscribes to `topics` again (the session is clean, so the broker
    forgets subscriptions when we drop) and calls `on_connect(now)`; each loss calls
    `on_disconnect(now)`. Incoming messages go to `on_message(topic, payload, retain, now)`
    synchronously, from one task, in arrival order.
    """

    def __init__(
        self,
        address: BrokerAddress,
        topics: Sequence[str],
        on_message: OnMessage,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls_ca_file: str | None = None,
        tls_insecure: bool = False,
        max_queued: int = 10000,
        on_connect: Callable[[float], None] | None = None,
        on_disconnect: Callable[[float], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.address = address
        self.topics = list(topics)
        self.on_message = on_message
        self.client_id = client_id or default_client_id()
        self.username = username
        self._password = password
        self.tls_ca_file = tls_ca_file
        self.tls_insecure = tls_insecure
        self.max_queued = max_queued
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.backoff = backoff or Backoff(base=0.5, cap=15.0)
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self.last_error: str | None = None
        self.drops = DROPS
        self._mqtt_log = _MQTT_LOG

    def _tls(self) -> ssl.SSLContext | None:
        if not self.address.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.tls_ca_file)
        if self.tls_insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.address.host,
            self.address.port,
            identifier=self.client_id,
            username=self.username,
            password=self._password,
            clean_session=True,
            keepalive=15,
            timeout=10,
            tls_context=self._tls(),
            max_queued_incoming_messages=self.max_queued,
            logger=self._mqtt_log,
        )

    async def run(self) -> None:
        """Connect, subscribe, deliver messages; on loss wait a jittered backoff and retry."""
        while True:
            try:
                async with self._client() as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.client = client
                    self.connects += 1
                    self.backoff.reset()
                    self.connected.set()
                    log.info("connected to %s:%s", self.address.host, self.address.port)
                    if self.on_connect is not None:
                        self.on_connect(time.time())
                    handle = self.on_message
                    async for m in client.messages:
                        payload = m.payload
                        if not isinstance(payload, bytes):
                            payload = str(payload).encode() if payload is not None else b""
                        handle(m.topic.value, payload, bool(m.retain), time.time())
            except aiomqtt.MqttError as exc:
                self.last_error = str(exc)
            finally:
                was = self.connected.is_set()
                self.connected.clear()
                self.client = None
                task = asyncio.current_task()
                stopping = task is not None and task.cancelling() > 0
                if was and not stopping and self.on_disconnect is not None:
                    self.on_disconnect(time.time())
            delay = self.backoff.next_delay()
            log.warning(
                "broker %s:%s unreachable (%s); retrying in %.1fs",
                self.address.host,
                self.address.port,
                self.last_error,
                delay,
            )
            await asyncio.sleep(delay)

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish now; raises BrokerError naming the broker when not connected."""
        client = self.client
        if client is None:
            raise BrokerError(f"not connected to {self.address.host}:{self.address.port}")
        try:
            await client.publish(topic, payload, qos=qos)
        except aiomqtt.MqttError as exc:
            raise BrokerError(
                f"publish to {topic} on {self.address.host}:{self.address.port}: {exc}"
            ) from exc

    async def publish_when_connected(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish, waiting for the connection first (retries once across a reconnect)."""
        for _ in range(2):
            await self.connected.wait()
            try:
                await self.publish(topic, payload, qos)
                return
            except BrokerError:
                await asyncio.sleep(0.1)
        await self.connected.wait()
        await self.publish(topic, payload, qos)
