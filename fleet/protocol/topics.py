"""hydro 2.0 MQTT topics: builders and a parser."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "hydro"
TEMP_GH = "gh-temp"
TEMP_ZONE = "zn-temp"
HELLO_TOPIC = "hydro/node_hello"
TIME_REQUEST_TOPIC = "hydro/time/request"
TIME_RESPONSE_TOPIC = "hydro/time/response"

NODE_TYPES = frozenset({"heartbeat", "status", "lwt", "config", "config_report", "node_hello"})
CHANNEL_TYPES = frozenset({"command", "command_response", "telemetry"})
RETAINED = frozenset({"status", "lwt"})


def node_topic(gh: str, zone: str, node: str, kind: str) -> str:
    """`hydro/{gh}/{zone}/{node}/{kind}` (heartbeat, status, lwt, config, config_report)."""
    return f"{PREFIX}/{gh}/{zone}/{node}/{kind}"


def channel_topic(gh: str, zone: str, node: str, channel: str, kind: str) -> str:
    """`hydro/{gh}/{zone}/{node}/{channel}/{kind}` (command, command_response, ...)."""
    return f"{PREFIX}/{gh}/{zone}/{node}/{channel}/{kind}"


def temp_topic(hardware_id: str, kind: str) -> str:
    """A topic of an unbound node: `hydro/gh-temp/zn-temp/{hardware_id}/{kind}`."""
    return node_topic(TEMP_GH, TEMP_ZONE, hardware_id, kind)


OTA_PREFIX = f"{PREFIX}/system/ota/"


def ota_topic(node_uid: str) -> str:
    """Where an OTA_UPDATE command for `node_uid` goes."""
    return f"{OTA_PREFIX}{node_uid}"


@dataclass(frozen=True)
class TopicParts:
    """A parsed hydro 2.0 topic. `channel` is None for node-level messages."""

    gh: str
    zone: str
    node: str
    kind: str
    channel: str | None = None

    @property
    def is_temp(self) -> bool:
        return self.gh == TEMP_GH and self.zone == TEMP_ZONE


def parse_topic(topic: str) -> TopicParts | None:
    """The parts of a node- or channel-level topic, or None for anything else."""
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != PREFIX or any(not p for p in parts):
        return None
    if len(parts) == 5:
        _, gh, zone, node, kind = parts
        if kind in NODE_TYPES:
            return TopicParts(gh, zone, node, kind)
        return None
    if len(parts) == 6:
        _, gh, zone, node, channel, kind = parts
        if kind in CHANNEL_TYPES:
            return TopicParts(gh, zone, node, kind, channel)
    return None
