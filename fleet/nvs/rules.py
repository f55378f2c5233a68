"""The checks the hydro 2.0 firmware makes before it saves a NodeConfig, and a few of ours.

Firmware (config_storage / node_config_handler): `node_id`, `version`, `type`, `gh_uid`,
`zone_uid` and `channels` present; `mqtt` an object with a non-empty `host` and a numeric
`port`; `wifi` with a non-empty `ssid` (else the node drops the config and enters setup
mode); actuator channels of type RELAY, VALVE, FAN or HEATER carry `relay_type` NC or NO;
the unformatted JSON fits the 4096-byte buffer (we keep it <= 3967 bytes, see
`MAX_JSON_BYTES`). Ours: the MQTT port is 1..65535, `node_id` is the node's uid,
`node_secret` is 64 lowercase hex.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

from fleet.nvs.errors import NodeConfigInvalid

MAX_JSON_BYTES = 3967
"""The firmware's buffer would take 3999 bytes, but ESP-IDF's NVS partition generator refuses a
string that needs all 126 entries of a page (3,968-3,999 bytes plus its NUL; its page-fit check
is off by one), so 3,967 is the longest NodeConfig an image can be built with."""
RELAY_ACTUATORS = frozenset({"RELAY", "VALVE", "FAN", "HEATER"})
RELAY_TYPES = frozenset({"NC", "NO"})
_SECRET = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field (dotted path) and the rule."""

    field: str
    rule: str


def serialize(config: dict[str, Any]) -> str:
    """The NodeConfig as the firmware stores it: unformatted JSON, UTF-8 kept as is."""
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False)


def violations(config: Any, node_uid: str | None = None) -> list[Violation]:
    """Every rule `config` breaks, in a stable order (empty when it is valid)."""
    if not isinstance(config, dict):
        return [Violation("(root)", "NodeConfig must be a JSON object")]
    out: list[Violation] = []
    for name in ("node_id", "type", "gh_uid", "zone_uid"):
        if not _nonempty_str(config.get(name)):
            out.append(Violation(name, "required: a non-empty string"))
    if not _int(config.get("version")):
        out.append(Violation("version", "required: an integer"))
    node_id = config.get("node_id")
    if node_uid is not None and _nonempty_str(node_id) and node_id != node_uid:
        out.append(Violation("node_id", f"must be the node's uid {node_uid!r}"))
    out += _channels(config.get("channels"))
    out += _wifi(config.get("wifi"))
    out += _mqtt(config.get("mqtt"))
    secret = config.get("node_secret")
    if secret is not None and not (isinstance(secret, str) and _SECRET.fullmatch(secret)):
        out.append(Violation("node_secret", "must be 64 lowercase hex characters"))
    size = len(serialize(config).encode("utf-8"))
    if size > MAX_JSON_BYTES:
        out.append(
            Violation(
                "(size)",
                f"unformatted JSON is {size} bytes; max {MAX_JSON_BYTES} (the NVS generator "
                "cannot place a longer string in one page)",
            )
        )
    return out


def validate(config: Any, node_uid: str) -> None:
    """Raise NodeConfigInvalid naming the node, the field and the rule of the first violation."""
    found = violations(config, node_uid)
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise NodeConfigInvalid(node_uid, first.field, first.rule + more)


def _channels(channels: Any) -> list[Violation]:
    if not isinstance(channels, list):
        return [Violation("channels", "required: an array")]
    out = []
    for i, ch in enumerate(channels):
        where = f"channels[{i}]"
        if not isinstance(ch, dict):
            out.append(Violation(where, "must be an object"))
            continue
        if not _nonempty_str(ch.get("name")):
            out.append(Violation(f"{where}.name", "required: a non-empty string"))
        else:
            where = f"channels[{i}] ({ch['name']})"
        if ch.get("type") not in ("SENSOR", "ACTUATOR"):
            out.append(Violation(f"{where}.type", "must be SENSOR or ACTUATOR"))
        if (
            ch.get("type") == "ACTUATOR"
            and ch.get("actuator_type") in RELAY_ACTUATORS
            and ch.get("relay_type") not in RELAY_TYPES
        ):
            need = f"a {ch['actuator_type']} actuator needs relay_type NC or NO"
            out.append(Violation(f"{where}.relay_type", need))
    return out


def _wifi(wifi: Any) -> list[Violation]:
    if not isinstance(wifi, dict):
        return [Violation("wifi", "required: an object with a non-empty ssid")]
    out = []
    if not _nonempty_str(wifi.get("ssid")):
        out.append(
            Violation("wifi.ssid", "required: a non-empty string (`fleet site set wifi.ssid`)")
        )
    if "pass" in wifi and not isinstance(wifi["pass"], str):
        out.append(Violation("wifi.pass", "must be a string"))
    return out


def _mqtt(mqtt: Any) -> list[Violation]:
    if not isinstance(mqtt, dict):
        return [Violation("mqtt", "required: an object with host and port")]
    out = []
    if not _nonempty_str(mqtt.get("host")):
        out.append(
            Violation("mqtt.host", "required: a non-empty string (`fleet site set mqtt.host`)")
        )
    port = mqtt.get("port")
    if not (_int(port) and 1 <= port <= 65535):
        out.append(Violation("mqtt.port", "required: an integer in 1..65535"))
    keepalive = mqtt.get("keepalive")
    if keepalive is not None and not (_int(keepalive) and 0 <= keepalive <= 65535):
        out.append(Violation("mqtt.keepalive", "must be an integer in 0..65535 seconds"))
    if "use_tls" in mqtt and not isinstance(mqtt["use_tls"], bool):
        out.append(Violation("mqtt.use_tls", "must be true or false"))
    return out


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
