"""The `[sim]` settings section and the broker address simulated nodes connect to."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pydantic

from fleet.errors import UsageError

SECTION = "sim"
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


class SimSettings(pydantic.BaseModel):
    """fleet.toml `[sim]` / `FLEET_SIM__<KEY>`: defaults of `fleet sim nodes`."""

    model_config = pydantic.ConfigDict(extra="forbid")

    broker: str | None = None  # default: [service].broker, else mqtt://127.0.0.1:1883
    heartbeat_interval: float = pydantic.Field(15.0, gt=0)
    nodes_per_connection: int = pydantic.Field(1000, ge=1)
    reconnect_delay: float = pydantic.Field(5.0, gt=0)
    time_retry: float = pydantic.Field(30.0, gt=0)
    qos: int = pydantic.Field(1, ge=0, le=1)


@dataclass(frozen=True)
class BrokerUrl:
    """`mqtt://host:port`, parsed."""

    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """Parse `url`; UsageError naming it unless it is mqtt://host[:port] (no TLS here)."""
        parts = urlsplit(url)
        if parts.scheme == "mqtts":
            raise UsageError(f"broker {url}: simulated nodes speak plain mqtt:// only (no TLS)")
        if parts.scheme != "mqtt" or not parts.hostname:
            raise UsageError(f"broker {url!r} is not mqtt://host:port")
        try:
            port = parts.port or 1883
        except ValueError as exc:
            raise UsageError(f"broker {url!r}: bad port") from exc
        return cls(parts.hostname, port)
