"""A sample hydro 2.0 site for demos, tests and benchmarks (public testing aid)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.context import FleetContext
from fleet.registry import NodeSpec
from fleet.registry.importing import ImportRow

# Chip per node type, as on the production site (DESIGN.md section 2).
CHIP_OF_TYPE = {
    "ph": "esp32",
    "ec": "esp32",
    "irrig": "esp32",
    "climate": "esp32",
    "pump": "esp32",
    "relay": "esp32",
    "light": "esp32c3",
    "water_sensor": "esp32",
    "recirculation": "esp32",
}
TYPES = tuple(CHIP_OF_TYPE)


@dataclass(frozen=True)
class SampleNode:
    uid: str
    hardware_id: str
    node_type: str
    chip: str
    gh_uid: str
    zone_uid: str


def mac_for(index: int, base: int = 0x24_0A_C4_00_00_00) -> str:
    """A deterministic factory-like MAC (Espressif OUI 24:0a:c4) for node `index`."""
    v = base + index
    return ":".join(f"{(v >> s) & 0xFF:02x}" for s in range(40, -1, -8))


def sample_nodes(count: int, greenhouses: int = 1, zones_per_gh: int = 4) -> list[SampleNode]:
    """`count` nodes spread over greenhouses and zones, types in rotation."""
    out = []
    for i in range(count):
        ntype = TYPES[i % len(TYPES)]
        gh = f"gh-{1 + i % greenhouses}"
        zone = f"zn-{1 + (i // greenhouses) % zones_per_gh}"
        mac = mac_for(i)
        out.append(
            SampleNode(
                uid=f"nd-{ntype.replace('_', '')}-{i + 1}",
                hardware_id="esp32-" + mac.replace(":", ""),
                node_type=ntype,
                chip=CHIP_OF_TYPE[ntype],
                gh_uid=gh,
                zone_uid=zone,
            )
        )
    return out


def sample_rows(count: int, seed: str | None = None) -> list[ImportRow]:
    """Import rows for `sample_nodes(count)`.

    Without `seed` the vault generates each secret (CSPRNG); with one, secrets are
    derived from it so that tests can know them.
    """
    rows = []
    for n in sample_nodes(count):
        secret = hashlib.sha256(f"{seed}:{n.uid}".encode()).hexdigest() if seed else None
        spec = NodeSpec(
            uid=n.uid,
            gh_uid=n.gh_uid,
            zone_uid=n.zone_uid,
            node_type=n.node_type,
            hardware_id=n.hardware_id,
            chip=n.chip,
            fw_version="2.0.0",
        )
        rows.append(ImportRow(spec, secret))
    return rows


# Site values that make every template render (test values, not secrets of any real site).
TEST_SITE_VALUES = {
    "wifi.ssid": "farm",
    "wifi.pass": "wifi-pass-1",
    "mqtt.host": "10.0.0.2",
    "mqtt.password": "mqtt-pass-1",
}


def prepare_home(
    home: Path,
    boards: Sequence[tuple[str, str, str, str]],
    site_values: Mapping[str, str] | None = None,
) -> FleetContext:
    """A data directory with nodes of known boards registered and site values set.

    `boards` are (uid, node type, chip, MAC); every node is in gh-1/zn-1 with a fresh
    secret in the vault. Returns the open context.
    """
    from fleet.home import init_home
    from fleet.nvs.site import set_value
    from fleet.registry.importing import import_rows
    from fleet.settings import Settings

    settings = Settings.load(home, environ={})
    init_home(settings)
    ctx = FleetContext.open(settings=settings)
    rows = [
        ImportRow(NodeSpec(uid, "gh-1", "zn-1", kind, mac=mac, chip=chip), None)
        for uid, kind, chip, mac in boards
    ]
    import_rows(ctx.registry, ctx.vault, rows, source="test")
    for key, value in (TEST_SITE_VALUES if site_values is None else site_values).items():
        set_value(ctx, key, value)
    return ctx
