"""The size of a node's `nvs` partition: from its assigned firmware's partition table.

Falls back to `[nvs] partition_size`, else 0x6000 (the hydro 2.0 production table), when
no firmware is assigned to the node or its type.
"""

from __future__ import annotations

from fleet.context import FleetContext
from fleet.errors import NotFound
from fleet.firmware.store import FirmwareStore
from fleet.nvs.builder import DEFAULT_SIZE, check_size
from fleet.registry.node import Node


class PartitionSizer:
    """Looks partition sizes up once per firmware (a build of every node reads each table once)."""

    def __init__(self, ctx: FleetContext, fallback: int | None = None) -> None:
        self.ctx = ctx
        self.fallback = fallback or DEFAULT_SIZE
        self._by_firmware: dict[str, int] = {}
        self._store: FirmwareStore | None = FirmwareStore(ctx.registry, ctx.home)

    def size(self, node: Node) -> int:
        """`node`'s nvs partition size in bytes."""
        if self._store is None:
            return self.fallback
        try:
            entry = self._store.resolve(node)
        except NotFound:
            return self.fallback
        if entry.id not in self._by_firmware:
            _, bundle = self._store.load(entry.id)
            part = bundle.partition_table.nvs
            size = part.size if part is not None else self.fallback
            check_size(size)
            self._by_firmware[entry.id] = size
        return self._by_firmware[entry.id]
