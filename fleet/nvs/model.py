"""What the NVS parser returns: pages, values and problems of one partition."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.errors import NotFound
from fleet.nvs import format as fmt


@dataclass(frozen=True)
class Problem:
    """One failed check: where (page, entry) and what."""

    page: int
    entry: int | None
    what: str

    @property
    def location(self) -> str:
        """`page N (offset 0x...) entry M (offset 0x...)`."""
        return fmt.where(self.page, self.entry)

    def __str__(self) -> str:
        return f"{self.location}: {self.what}"


@dataclass(frozen=True)
class PageInfo:
    """One page as found: state, sequence number, version and entry counts."""

    index: int
    state: str
    seq: int | None
    version: int | None
    written: int
    erased: int
    empty: int


@dataclass(frozen=True)
class NvsItem:
    """One live value: namespace, key, type (u8..i64, string, blob) and where it was found."""

    namespace: str
    key: str
    type: str
    value: int | str | bytes | None
    page: int
    entry: int
    seq: int


@dataclass
class NvsPartition:
    """A parsed NVS partition: its pages, live values and every problem found."""

    size: int
    version: int | None
    encrypted: bool
    pages: list[PageInfo]
    namespaces: dict[str, int]
    items: list[NvsItem]
    superseded: list[NvsItem] = field(default_factory=list)
    orphan_chunks: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.problems

    def item(self, namespace: str, key: str) -> NvsItem:
        """The live item `namespace/key`; raises NotFound naming both."""
        for it in self.items:
            if it.namespace == namespace and it.key == key:
                return it
        raise NotFound(f"NVS key {namespace}/{key} is not in the partition")

    def get(self, namespace: str, key: str) -> int | str | bytes | None:
        """The value of `namespace/key`; raises NotFound when it is absent."""
        return self.item(namespace, key).value

    def as_dict(self) -> dict[str, dict[str, int | str | bytes | None]]:
        """All live values as {namespace: {key: value}}."""
        out: dict[str, dict[str, int | str | bytes | None]] = {}
        for it in self.items:
            out.setdefault(it.namespace, {})[it.key] = it.value
        return out
