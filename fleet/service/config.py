"""The `[service]` settings section: broker, timings, pacing and endpoints of `fleet serve`."""

from __future__ import annotations

from urllib.parse import urlsplit

import pydantic

from fleet.errors import ConfigError

SECTION = "service"


class ServiceSettings(pydantic.BaseModel):
    """Settings of `fleet serve` (fleet.toml `[service]`, `FLEET_SERVICE__<KEY>`)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    tls_ca_file: str | None = None
    tls_insecure: bool = False
    client_id: str | None = None  # default: fleet-serve-<host>-<pid>
    stale_after: float = pydantic.Field(45.0, gt=0)
    offline_after: float = pydantic.Field(120.0, gt=0)
    restore_grace: float | None = pydantic.Field(None, ge=0)  # default: offline_after
    restore_outage: float = pydantic.Field(30.0, ge=0)  # outage longer than this = restore
    reboot_rate: float = pydantic.Field(20.0, gt=0)  # nodes per second
    reboot_jitter: float = pydantic.Field(1.0, ge=0, le=1)  # fraction of a slot
    reboot_only_unseen: bool = False
    reboot_back_timeout: float | None = pydantic.Field(None, gt=0)  # default: offline_after
    auto_reboot: bool = True
    command_timeout: float = pydantic.Field(30.0, gt=0)
    command_rate_per_node: float = pydantic.Field(2.0, gt=0)
    command_rate_global: float = pydantic.Field(200.0, gt=0)
    time_sync: bool = True
    metrics_host: str = "127.0.0.1"
    metrics_port: int = pydantic.Field(9791, ge=0, le=65535)  # 0 = any free port
    control_socket: str = "serve.sock"  # relative to the data directory
    flush_interval: float = pydantic.Field(1.0, gt=0)  # state changes, audit records
    telemetry_interval: float = pydantic.Field(15.0, gt=0)  # last_seen, rssi, uptime, ...
    sweep_interval: float = pydantic.Field(1.0, gt=0)
    # bounded (a message is ~1 KB queued): absorbs a burst of a whole 15 s heartbeat round
    # of 50,000 nodes; beyond it messages are dropped and counted (incoming_dropped)
    max_queued_messages: int = pydantic.Field(50000, gt=0)

    @property
    def grace(self) -> float:
        """Grace after the service's own reconnect or a broker restore."""
        return self.offline_after if self.restore_grace is None else self.restore_grace

    @property
    def back_timeout(self) -> float:
        """How long a rebooted node has to show up again before it counts as silent."""
        return self.offline_after if self.reboot_back_timeout is None else self.reboot_back_timeout


class BrokerAddress(pydantic.BaseModel):
    """A parsed broker URL (`mqtt://host:port` or `mqtts://host:port`)."""

    model_config = pydantic.ConfigDict(frozen=True)

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse `url`; raises ConfigError naming the URL when it is not mqtt(s)://host[:port]."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(f"broker URL {url!r} is not mqtt://host:port or mqtts://host:port")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigError(f"broker URL {url!r}: bad port") from exc
        return cls(host=parts.hostname, port=port, tls=tls)
