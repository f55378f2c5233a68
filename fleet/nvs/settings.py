"""The `[nvs]` settings section and the `[site]` values NodeConfigs are rendered from."""

from __future__ import annotations

from typing import Any

import pydantic


class NvsSettings(pydantic.BaseModel):
    """`[nvs]`: how images are built; `[nvs.nodes.<uid>]` holds per-node NodeConfig overrides."""

    model_config = pydantic.ConfigDict(extra="forbid")
    encrypt: bool = False  # NVS encryption (XTS); the firmware today does not use it
    format_version: int = pydantic.Field(2, ge=1, le=2)
    partition_size: int | None = None  # used when no firmware (partition table) is assigned
    templates_dir: str | None = None  # searched before $FLEET_HOME/nvs_templates
    keep_history: int = pydantic.Field(0, ge=0)  # 0: keep every escrowed image
    nodes: dict[str, dict[str, Any]] = {}


class WifiSite(pydantic.BaseModel):
    """`[site.wifi]` (the password lives in the vault, never here)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    ssid: str | None = None
    auto_reconnect: bool = True
    timeout_sec: int = pydantic.Field(30, ge=1, le=3600)


class MqttSite(pydantic.BaseModel):
    """`[site.mqtt]` (the password lives in the vault, never here)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    host: str | None = None
    port: int = pydantic.Field(1883, ge=1, le=65535)
    keepalive: int = pydantic.Field(30, ge=0, le=65535)
    username: str | None = None
    use_tls: bool = False


class SiteSettings(pydantic.BaseModel):
    """`[site]`: values every node's NodeConfig shares."""

    model_config = pydantic.ConfigDict(extra="forbid")
    wifi: WifiSite = WifiSite()
    mqtt: MqttSite = MqttSite()
