"""The size of a node's `nvs` partition: from its assigned firmware's partition table.

A node's own firmware assignment wins over its type's (as `FirmwareStore.resolve`).
Falls back to `[nvs] partition_size`, else 0x6000 (the hydro 2.0 production table), when
no firmware is assigned to the node or its type.
"""

from __future__ import annotations

from fleet.context import FleetContext
from fleet.firmware.store import FirmwareStore
from fleet.nvs.builder import DEFAULT_SIZE, check_size
from fleet.registry.node import Node


class PartitionSizer:
    """Reads the assignments once and each firmware's partition table once per build run."""

    def __init__(self, ctx: FleetContext, fallback: int | None = None) -> None:
        self.fallback = fallback or DEFAULT_SIZE
        check_size(self.fallback)
        self._store = FirmwareStore(ctx.registry, ctx.home)
        self._assigned = {
            (a.kind, a.target, a.chip): a.firmware_id for a in self._store.assignments()
        }
        self._by_firmware: dict[str, int] = {}

    def firmware_id(self, node: Node) -> str | None:
        """The firmware assigned to `node` (its own, else its type's), or None."""
        return self._assigned.get(("node", node.uid, node.chip)) or self._assigned.get(
            ("node_type", node.node_type, node.chip)
        )

    def size(self, node: Node) -> int:
        """`node`'s nvs partition size in bytes."""
        firmware = self.firmware_id(node)
        if firmware is None:
            return self.fallback
        if firmware not in self._by_firmware:
            _, bundle = self._store.load(firmware)
            part = bundle.partition_table.nvs
            size = part.size if part is not None else self.fallback
            check_size(size)
            self._by_firmware[firmware] = size
        return self._by_firmware[firmware]
