"""Render a NodeConfig template with per-node and site values, then per-node overrides.

Placeholders are `${name}` with dotted names: `node.uid`, `node.gh_uid`, `node.zone_uid`,
`node.hardware_id`, `node.mac`, `node.node_type`, `secret.node_secret`, and every site
value as `site.<field>` (`site.wifi.ssid`, `site.mqtt.port`, ...). A string that is
exactly one placeholder takes the value's own type (a port stays an integer); a value of
None drops the key (an unset MQTT username is left out). A placeholder inside a longer
string is replaced by its text. An unknown name is an error: a typo must not produce a
node that cannot connect.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from fleet.nvs.errors import TemplateError
from fleet.nvs.templates import Template

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")
_DROP = object()


def render(
    template: Template, values: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The template's NodeConfig with placeholders filled from `values`, then `overrides` merged.

    `overrides` is a nested dict merged key by key over the result (a value of None deletes
    the key). Raises TemplateError naming the template and the unknown placeholder.
    """
    out: dict[str, Any] = _fill(template.nodeconfig, values, template)
    if overrides:
        out = merge(out, overrides)
    return out


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: `top` over `base`, objects merged key by key, None deleting a key."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fill(node: Any, values: Mapping[str, Any], tpl: Template) -> Any:
    if isinstance(node, dict):
        filled = {k: _fill(v, values, tpl) for k, v in node.items()}
        return {k: v for k, v in filled.items() if v is not _DROP}
    if isinstance(node, list):
        return [v for v in (_fill(x, values, tpl) for x in node) if v is not _DROP]
    if not isinstance(node, str):
        return node
    whole = _PLACEHOLDER.fullmatch(node)
    if whole:
        value = _lookup(whole.group(1), values, tpl)
        return _DROP if value is None else copy.deepcopy(value)
    return _PLACEHOLDER.sub(lambda m: _text(_lookup(m.group(1), values, tpl)), node)


def _lookup(name: str, values: Mapping[str, Any], tpl: Template) -> Any:
    if name not in values:
        known = ", ".join(sorted(values))
        raise TemplateError(str(tpl.path), f"unknown placeholder ${{{name}}} (known: {known})")
    return values[name]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
