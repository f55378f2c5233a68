"""Site-wide NodeConfig values: `fleet site set/show`, with passwords kept in the vault.

Keys are named like the NodeConfig fields they fill (`wifi.ssid`, `mqtt.port`, ...).
Passwords (`wifi.pass`, `mqtt.password`) go to the vault as kind `site_secret`, subject
the key (or `<uid>:<key>` for one node's override), never to fleet.toml. Other values go
to fleet.toml: `[site]` for the site, `[nvs.nodes.<uid>]` for one node.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import tomli_w

from fleet.context import FleetContext
from fleet.errors import ConfigError, UsageError
from fleet.nvs.settings import NvsSettings, SiteSettings
from fleet.settings import SETTINGS_FILE, read_file_settings, write_file_setting

SITE_SECRET = "site_secret"
SECRET_KEYS = ("wifi.pass", "mqtt.password")
KEY_TYPES: dict[str, type] = {
    "wifi.ssid": str,
    "wifi.pass": str,
    "wifi.auto_reconnect": bool,
    "wifi.timeout_sec": int,
    "mqtt.host": str,
    "mqtt.port": int,
    "mqtt.keepalive": int,
    "mqtt.username": str,
    "mqtt.password": str,
    "mqtt.use_tls": bool,
}
MASK = "********"


@dataclass(frozen=True)
class SiteChange:
    """What `set_value` did: the key, where it went (vault or fleet.toml), the node if any."""

    key: str
    stored_in: str
    node_uid: str | None
    value: Any  # None for secrets


def parse_value(key: str, text: str) -> Any:
    """`text` as the type `key` takes; UsageError naming the key on a bad value."""
    kind = KEY_TYPES.get(key)
    if kind is None:
        raise UsageError(f"unknown site key {key!r}; one of {', '.join(KEY_TYPES)}")
    if kind is bool:
        low = text.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise UsageError(f"{key}: {text!r} is not true/false")
    if kind is int:
        try:
            return int(text, 0)
        except ValueError:
            raise UsageError(f"{key}: {text!r} is not an integer") from None
    if not text:
        raise UsageError(f"{key}: empty value (use `fleet site unset {key}`)")
    return text


def secret_subject(key: str, node_uid: str | None) -> str:
    """The vault subject of a password: the key, or `<uid>:<key>` for one node."""
    return f"{node_uid}:{key}" if node_uid else key


def set_value(ctx: FleetContext, key: str, text: str, node_uid: str | None = None) -> SiteChange:
    """Set a site value (or one node's override); passwords go to the vault, audited."""
    value = parse_value(key, text)
    if node_uid is not None:
        ctx.registry.get_node(node_uid)  # NodeNotFound for a typo
    if key in SECRET_KEYS:
        ctx.vault.put(SITE_SECRET, secret_subject(key, node_uid), value.encode("utf-8"))
        where, shown = "vault", None
    else:
        dotted = f"nvs.nodes.{node_uid}.{key}" if node_uid else f"site.{key}"
        _check_file_value(ctx, dotted, value)
        write_file_setting(ctx.home, dotted, value)
        ctx.settings.reload()
        where, shown = "fleet.toml", value
    ctx.registry.audit(
        "site.set", node_uid=node_uid, detail={"key": key, "stored_in": where, "value": shown}
    )
    return SiteChange(key, where, node_uid, shown)


def _check_file_value(ctx: FleetContext, dotted: str, value: Any) -> None:
    data = read_file_settings(ctx.home)
    node: dict[str, Any] = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    try:
        SiteSettings.model_validate(data.get("site", {}))
        NvsSettings.model_validate(data.get("nvs", {}))
    except pydantic.ValidationError as exc:
        raise ConfigError(f"{dotted} = {value!r}: {exc.errors()[0]['msg']}") from None


def site_settings(ctx: FleetContext) -> SiteSettings:
    """The `[site]` section (fleet.toml, then FLEET_SITE__* variables)."""
    return ctx.settings.section("site", SiteSettings)


def site_secrets(
    ctx: FleetContext, node_uid: str | None = None, present: set[str] | None = None
) -> dict[str, str | None]:
    """The site passwords (or one node's overrides when `node_uid`), None when unset.

    `present` (from `secret_subjects`) saves a query per key when called for many nodes.
    """
    out: dict[str, str | None] = {}
    for key in SECRET_KEYS:
        subject = secret_subject(key, node_uid)
        has = subject in present if present is not None else ctx.vault.has(SITE_SECRET, subject)
        out[key] = ctx.vault.get(SITE_SECRET, subject).decode("utf-8") if has else None
    return out


def secret_subjects(ctx: FleetContext) -> set[str]:
    """Subjects of every `site_secret` record (which passwords are set, without reading them)."""
    return {info.subject for info in ctx.vault.history(SITE_SECRET)}


def site_values(ctx: FleetContext) -> dict[str, Any]:
    """Every site value as flat `site.<key>` placeholders, passwords from the vault."""
    site = site_settings(ctx).model_dump()
    flat = {f"site.{k}": _dig(site, k) for k in KEY_TYPES if k not in SECRET_KEYS}
    flat.update({f"site.{k}": v for k, v in site_secrets(ctx).items()})
    return flat


def show(ctx: FleetContext, reveal: bool = False) -> dict[str, Any]:
    """Site values by key, passwords masked ("********" set, None unset) unless `reveal`."""
    values = {k.removeprefix("site."): v for k, v in site_values(ctx).items()}
    if not reveal:
        for key in SECRET_KEYS:
            if values.get(key):
                values[key] = MASK
    return values


def _dig(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def unset_value(ctx: FleetContext, key: str, node_uid: str | None = None) -> bool:
    """Remove a site value (or one node's override); True when something was removed."""
    if key not in KEY_TYPES:
        raise UsageError(f"unknown site key {key!r}; one of {', '.join(KEY_TYPES)}")
    if key in SECRET_KEYS:
        records = ctx.vault.history(SITE_SECRET, secret_subject(key, node_uid))
        for info in records:
            ctx.vault.delete(info.id)
        removed = bool(records)
    else:
        dotted = f"nvs.nodes.{node_uid}.{key}" if node_uid else f"site.{key}"
        removed = _remove_file_setting(ctx.home, dotted)
        ctx.settings.reload()
    if removed:
        ctx.registry.audit("site.unset", node_uid=node_uid, detail={"key": key})
    return removed


def _remove_file_setting(home: Path, dotted: str) -> bool:
    data = read_file_settings(home)
    node: Any = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or parts[-1] not in node:
        return False
    del node[parts[-1]]
    path = home / SETTINGS_FILE
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    return True


def nodes_with_overrides(ctx: FleetContext) -> set[str]:
    """Uids of nodes with their own NodeConfig overrides (fleet.toml or vault)."""
    nodes = set(ctx.settings.section("nvs", NvsSettings).nodes)
    nodes |= {s.split(":", 1)[0] for s in secret_subjects(ctx) if ":" in s}
    return nodes
