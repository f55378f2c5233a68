"""Watch MQTT for a node to come back ONLINE after the station flashed it.

The watch starts before the board is written (subscribed to the node's `status` and
`heartbeat` topics), so a board that boots fast is not missed. Only live messages count:
the broker delivers the node's old retained ONLINE on subscribe (flagged retained), and a
dead node's retained status says nothing about the new boot. A live `status` ONLINE or a
`heartbeat` after the watch started means the node runs its new firmware and identity.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiomqtt

from fleet.errors import BrokerError

if TYPE_CHECKING:
    from fleet.context import FleetContext


@dataclass(frozen=True)
class BrokerLogin:
    """Where the site's broker is and how to log in (password from the vault)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    tls_ca_file: str | None = None

    def __repr__(self) -> str:  # never show the password
        return f"BrokerLogin({self.host}:{self.port}, tls={self.tls}, user={self.username})"


def site_broker(ctx: FleetContext, url: str | None = None) -> BrokerLogin:
    """The broker `fleet serve` uses (`[service]` settings, password from the vault);
    `url` (mqtt://host:port) overrides the address."""
    from fleet.service.config import BrokerAddress
    from fleet.service.server import broker_password, load_settings

    cfg = load_settings(ctx)
    address = BrokerAddress.parse(url or cfg.broker)
    return BrokerLogin(
        address.host,
        address.port,
        address.tls,
        cfg.username,
        broker_password(ctx, cfg),
        cfg.tls_ca_file,
    )


class OnlineWatch:
    """Subscribes (in a background thread) to one node's status and heartbeat topics."""

    def __init__(self, login: BrokerLogin, base_topic: str) -> None:
        self.login = login
        self.topics = [f"{base_topic}/status", f"{base_topic}/heartbeat"]
        self.online_at: float | None = None
        self.error: str | None = None
        self._ready = threading.Event()
        self._seen = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="station-online", daemon=True)

    def start(self, timeout: float = 10.0) -> OnlineWatch:
        """Connect and subscribe; BrokerError (naming the broker) when that fails."""
        self._thread.start()
        if not self._ready.wait(timeout) or self.error:
            self.close()
            where = f"{self.login.host}:{self.login.port}"
            raise BrokerError(f"{where}: {self.error or 'no connection within the timeout'}")
        return self

    def wait(self, timeout: float) -> bool:
        """True once the node was seen live (status ONLINE or a heartbeat), within `timeout`."""
        return self._seen.wait(timeout)

    def close(self) -> None:
        """Disconnect and end the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception as exc:  # reported through start() / error
            self.error = self.error or f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()

    def _tls(self) -> ssl.SSLContext | None:
        if not self.login.tls:
            return None
        return ssl.create_default_context(cafile=self.login.tls_ca_file)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client = aiomqtt.Client(
            self.login.host,
            self.login.port,
            identifier=f"fleet-station-{os.getpid()}-{id(self):x}",
            username=self.login.username,
            password=self.login.password,
            tls_context=self._tls(),
            timeout=10,
        )
        try:
            async with client:
                for topic in self.topics:
                    await client.subscribe(topic, qos=1)
                self._ready.set()
                reader = asyncio.create_task(self._read(client))
                await self._stop.wait()
                reader.cancel()
        except aiomqtt.MqttError as exc:
            self.error = str(exc)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if message.retain or not isinstance(message.payload, bytes):
                continue
            topic = str(message.topic)
            if topic.endswith("/heartbeat") or _is_online(message.payload):
                self.online_at = time.time()
                self._seen.set()


def _is_online(payload: bytes) -> bool:
    try:
        doc = json.loads(payload)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("status") == "ONLINE"
