"""A node's NodeConfig inside its NVS partition: build the image, read it back, mask secrets.

On the node the whole NodeConfig is one string: namespace `node_config`, key `config`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fleet.nvs.builder import DEFAULT_SIZE, NvsEntry, build_partition
from fleet.nvs.errors import NvsCorrupt
from fleet.nvs.parser import parse_partition
from fleet.nvs.rules import serialize

NAMESPACE = "node_config"
KEY = "config"
SECRET_FIELDS = (("node_secret",), ("wifi", "pass"), ("mqtt", "password"))
MASK = "********"


def build_nodeconfig_image(
    config: dict[str, Any], size: int = DEFAULT_SIZE, key: bytes | None = None, version: int = 2
) -> bytes:
    """The NVS partition holding `config` as `node_config/config` (validate it first)."""
    entries = [NvsEntry(NAMESPACE, KEY, "string", serialize(config))]
    return build_partition(entries, size, key=key, version=version)


def nodeconfig_text(image: bytes, key: bytes | None = None) -> str:
    """The raw `node_config/config` string of an NVS image; raises NvsCorrupt / NotFound."""
    value = parse_partition(image, key).get(NAMESPACE, KEY)
    if not isinstance(value, str):
        raise NvsCorrupt(f"{NAMESPACE}/{KEY} is a {type(value).__name__}, not a string")
    return value


def read_nodeconfig(image: bytes, key: bytes | None = None) -> dict[str, Any]:
    """The NodeConfig stored in an NVS image, as a dict; raises NvsCorrupt if it is not JSON."""
    return decode_nodeconfig(nodeconfig_text(image, key))


def decode_nodeconfig(text: str) -> dict[str, Any]:
    """Parse a stored NodeConfig string; raises NvsCorrupt unless it is a JSON object."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NvsCorrupt(
            f"{NAMESPACE}/{KEY} is not valid JSON ({exc.msg} at character {exc.pos})"
        ) from exc
    if not isinstance(config, dict):
        raise NvsCorrupt(f"{NAMESPACE}/{KEY} holds JSON that is not an object")
    return config


def mask_secrets(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` with node_secret, wifi.pass and mqtt.password masked."""
    out = copy.deepcopy(config)
    for path in SECRET_FIELDS:
        node: Any = out
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]) not in (None, ""):
            node[path[-1]] = MASK
    return out


def secret_values(config: dict[str, Any]) -> list[str]:
    """The secret strings a NodeConfig holds (to check they appear nowhere in clear)."""
    found = []
    for path in SECRET_FIELDS:
        node: Any = config
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str) and node:
            found.append(node)
    return found
