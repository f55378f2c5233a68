"""A sample hydro 2.0 site for demos, tests and benchmarks (public testing aid)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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
