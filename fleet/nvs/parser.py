"""Our own reader of ESP-IDF NVS partitions (none is installable).

`parse_partition` walks every page and entry the way the device does when it mounts the
partition, and reports each thing that fails (page, entry, what) instead of guessing:
header and entry CRC32s, bitmap states, spans, data CRC32s, multi-page blobs. Entries the
device would also drop (bad CRC, broken span) are left out of the values; erased entries
are skipped; when a key was written twice (a device interrupted between writing the new
value and erasing the old one), the newest wins: highest page sequence number, then
highest entry index.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from fleet.nvs import format as fmt
from fleet.nvs import xts
from fleet.nvs.errors import NvsCorrupt
from fleet.nvs.model import NvsItem, NvsPartition, PageInfo, Problem


@dataclass
class _Raw:
    """One decoded, CRC-checked entry (before namespaces and duplicates are resolved)."""

    page: int
    entry: int
    seq: int
    ns: int
    type: int
    span: int
    chunk: int
    key: str
    data: bytes  # the 8-byte data field
    payload: bytes = b""  # variable-length data, already CRC-checked


@dataclass
class _State:
    size: int
    key: bytes | None
    problems: list[Problem] = field(default_factory=list)
    pages: list[PageInfo] = field(default_factory=list)
    raws: list[_Raw] = field(default_factory=list)
    versions: set[int] = field(default_factory=set)

    def problem(self, page: int, entry: int | None, what: str) -> None:
        self.problems.append(Problem(page, entry, what))


def parse_partition(
    data: bytes, key: bytes | None = None, *, strict: bool = True, expected_size: int | None = None
) -> NvsPartition:
    """Parse an NVS partition image; `key` (64 bytes or an nvs_keys image) for encrypted ones.

    With `strict` (the default) the first problem raises `NvsCorrupt` naming the page, entry
    and check that failed; otherwise every problem is collected in `.problems` and the values
    that survive the checks are returned. A size that is not whole pages (a truncated file)
    or differs from `expected_size` always raises.
    """
    if not data:
        raise NvsCorrupt("the image is empty")
    if len(data) % fmt.PAGE_SIZE:
        raise NvsCorrupt(
            f"size {len(data)} (0x{len(data):x}) is not a whole number of "
            f"{fmt.PAGE_SIZE}-byte pages: truncated or not an NVS partition",
            where="partition",
        )
    if expected_size is not None and len(data) != expected_size:
        raise NvsCorrupt(
            f"size 0x{len(data):x} differs from the nvs partition size 0x{expected_size:x}"
        )
    st = _State(len(data), xts.coerce_key(key) if key is not None else None)
    for index in range(len(data) // fmt.PAGE_SIZE):
        _read_page(st, index, data[index * fmt.PAGE_SIZE : (index + 1) * fmt.PAGE_SIZE])
    if key is None and not st.raws and any("CRC32 mismatch" in p.what for p in st.problems):
        st.problems.insert(
            0,
            Problem(
                0, None, "no entry passes its CRC32 check: the image looks encrypted (give its key)"
            ),
        )
    part = _resolve(st)
    if strict and part.problems:
        first = part.problems[0]
        more = f" (and {len(part.problems) - 1} more problems)" if len(part.problems) > 1 else ""
        raise NvsCorrupt(first.what + more, where=first.location, page=first.page)
    return part


def _read_page(st: _State, index: int, page: bytes) -> None:
    header = page[: fmt.HEADER_SIZE]
    state, seq = struct.unpack_from("<II", header)
    state_name = fmt.PAGE_STATES.get(state)
    if state == fmt.STATE_UNINITIALIZED:
        if page != b"\xff" * fmt.PAGE_SIZE:
            st.problem(index, None, "page state is UNINITIALIZED (erased) but the page holds data")
        st.pages.append(PageInfo(index, "UNINITIALIZED", None, None, 0, 0, fmt.ENTRIES_PER_PAGE))
        return
    if state_name is None:
        st.problem(index, None, f"unknown page state 0x{state:08x}")
        st.pages.append(PageInfo(index, f"0x{state:08x}", seq, None, 0, 0, 0))
        return
    (stored,) = struct.unpack_from("<I", header, 28)
    if stored != fmt.header_crc(header):
        st.problem(
            index,
            None,
            f"page header CRC32 mismatch (stored 0x{stored:08x}, "
            f"computed 0x{fmt.header_crc(header):08x})",
        )
        st.pages.append(PageInfo(index, state_name, seq, None, 0, 0, 0))
        return
    version = fmt.VERSIONS.get(header[8])
    if version is None:
        st.problem(index, None, f"unknown page format version byte 0x{header[8]:02x}")
        st.pages.append(PageInfo(index, state_name, seq, None, 0, 0, 0))
        return
    st.versions.add(version)
    bitmap = page[fmt.BITMAP_OFFSET : fmt.FIRST_ENTRY_OFFSET]
    states = [fmt.entry_state(bitmap, i) for i in range(fmt.ENTRIES_PER_PAGE)]
    st.pages.append(
        PageInfo(
            index,
            state_name,
            seq,
            version,
            states.count(fmt.ENTRY_WRITTEN),
            states.count(fmt.ENTRY_ERASED),
            states.count(fmt.ENTRY_EMPTY),
        )
    )
    if state_name in ("CORRUPT", "INVALID"):
        st.problem(index, None, f"page is marked {state_name} by the device")
        return
    _read_entries(st, index, seq, page, states)


def _entry_bytes(st: _State, index: int, page: bytes, i: int) -> bytes:
    off = fmt.FIRST_ENTRY_OFFSET + i * fmt.ENTRY_SIZE
    raw = page[off : off + fmt.ENTRY_SIZE]
    return xts.decrypt_entry(st.key, index, i, raw) if st.key is not None else raw


def _read_entries(st: _State, index: int, seq: int, page: bytes, states: list[int]) -> None:
    i = 0
    while i < fmt.ENTRIES_PER_PAGE:
        state = states[i]
        if state == fmt.ENTRY_ILLEGAL:
            st.problem(index, i, "bitmap holds the illegal entry state 01")
        if state != fmt.ENTRY_WRITTEN:
            i += 1
            continue
        entry = _entry_bytes(st, index, page, i)
        ns, typ, span, chunk = entry[0], entry[1], entry[2], entry[3]
        (stored,) = struct.unpack_from("<I", entry, 4)
        if stored != fmt.entry_crc(entry):
            following = _failing_run(st, index, page, states, i + 1)
            hint = " (wrong key?)" if st.key is not None else ""
            note = f"; the next {following} written entries fail their CRC too" if following else ""
            st.problem(
                index,
                i,
                f"entry header CRC32 mismatch (stored 0x{stored:08x}, computed "
                f"0x{fmt.entry_crc(entry):08x}){hint}{note}",
            )
            i += 1 + following
            continue
        key = _key(st, index, i, entry)
        if key is None:
            i += 1
            continue
        if typ not in fmt.TYPE_NAMES:
            st.problem(index, i, f"key {key!r}: unknown item type 0x{typ:02x}")
            i += 1
            continue
        raw = _Raw(index, i, seq, ns, typ, span, chunk, key, bytes(entry[24:32]))
        if typ in fmt.VARIABLE:
            if not _read_payload(st, raw, page, states):
                i += max(span, 1) if 1 <= span <= fmt.ENTRIES_PER_PAGE - i else 1
                continue
        elif span != 1:
            st.problem(index, i, f"key {key!r}: span {span} for a one-entry item")
            i += 1
            continue
        st.raws.append(raw)
        i += span


def _failing_run(st: _State, index: int, page: bytes, states: list[int], start: int) -> int:
    """How many written entries from `start` on also fail their CRC.

    Most likely the data of the bad header before them; the device drops them the same way.
    """
    n = start
    while n < fmt.ENTRIES_PER_PAGE and states[n] == fmt.ENTRY_WRITTEN:
        entry = _entry_bytes(st, index, page, n)
        if struct.unpack_from("<I", entry, 4)[0] == fmt.entry_crc(entry):
            break
        n += 1
    return n - start


def _key(st: _State, index: int, i: int, entry: bytes) -> str | None:
    field_ = entry[8 : 8 + fmt.KEY_FIELD_SIZE]
    end = field_.find(b"\x00")
    if end < 1:
        st.problem(index, i, "key is empty or not NUL-terminated within 16 bytes")
        return None
    try:
        return field_[:end].decode("ascii")
    except UnicodeDecodeError:
        st.problem(index, i, f"key bytes {field_[:end].hex()} are not ASCII")
        return None


def _read_payload(st: _State, raw: _Raw, page: bytes, states: list[int]) -> bool:
    size, _reserved, data_crc = struct.unpack("<HHI", raw.data)
    label = f"key {raw.key!r} ({fmt.TYPE_NAMES[raw.type]}, {size} bytes)"
    need = 1 + (size + fmt.ENTRY_SIZE - 1) // fmt.ENTRY_SIZE
    if raw.span != need:
        st.problem(raw.page, raw.entry, f"{label}: span {raw.span}, the size needs {need}")
        return False
    if raw.entry + raw.span > fmt.ENTRIES_PER_PAGE:
        st.problem(raw.page, raw.entry, f"{label}: span {raw.span} runs past the end of the page")
        return False
    for j in range(raw.entry + 1, raw.entry + raw.span):
        if states[j] != fmt.ENTRY_WRITTEN:
            st.problem(raw.page, j, f"{label}: data entry {j} is not marked written in the bitmap")
            return False
    body = b"".join(
        _entry_bytes(st, raw.page, page, j) for j in range(raw.entry + 1, raw.entry + raw.span)
    )[:size]
    if fmt.crc32(body) != data_crc:
        st.problem(
            raw.page,
            raw.entry,
            f"{label}: data CRC32 mismatch (stored 0x{data_crc:08x}, "
            f"computed 0x{fmt.crc32(body):08x})",
        )
        return False
    raw.payload = body
    return True


def _resolve(st: _State) -> NvsPartition:
    ordered = sorted(st.raws, key=lambda r: (r.seq, r.page, r.entry))
    namespaces: dict[int, str] = {}
    for r in ordered:
        if r.ns == 0 and r.type == fmt.T_U8:
            namespaces[r.data[0]] = r.key
    newest: dict[tuple[Any, ...], _Raw] = {}
    superseded: list[_Raw] = []
    for r in ordered:
        if r.ns == 0:
            continue
        ident: tuple[Any, ...] = (r.ns, r.key, r.chunk if r.type == fmt.T_BLOB_DATA else -1)
        if r.type == fmt.T_BLOB_DATA:
            ident += ("data",)
        if ident in newest:
            superseded.append(newest[ident])
        newest[ident] = r
    items: list[NvsItem] = []
    used_chunks: set[tuple[Any, ...]] = set()
    for r in newest.values():
        if r.type == fmt.T_BLOB_DATA:
            continue
        ns_name = namespaces.get(r.ns)
        if ns_name is None:
            st.problem(r.page, r.entry, f"key {r.key!r}: namespace index {r.ns} is not defined")
            continue
        value = _value(st, r, newest, used_chunks)
        if value is not None:
            items.append(_item(r, ns_name, value))
    orphans = [i for i in newest if i[-1] == "data" and i not in used_chunks]
    return NvsPartition(
        size=st.size,
        version=max(st.versions) if st.versions else None,
        encrypted=st.key is not None,
        pages=st.pages,
        namespaces=dict(sorted((v, k) for k, v in namespaces.items())),
        items=sorted(items, key=lambda it: (it.namespace, it.key)),
        superseded=[_item(r, namespaces.get(r.ns, f"#{r.ns}"), None) for r in superseded],
        orphan_chunks=len(orphans),
        problems=st.problems,
    )


def _value(
    st: _State, r: _Raw, newest: dict[tuple[Any, ...], _Raw], used: set[tuple[Any, ...]]
) -> int | str | bytes | None:
    if r.type in fmt.PRIMITIVES:
        _, code = fmt.PRIMITIVES[r.type]
        return int(struct.unpack_from(code, r.data)[0])
    if r.type == fmt.T_SZ:
        text = r.payload[:-1] if r.payload.endswith(b"\x00") else r.payload
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError as exc:
            st.problem(r.page, r.entry, f"key {r.key!r}: string is not UTF-8 ({exc.reason})")
            return None
    if r.type == fmt.T_BLOB:
        return r.payload
    size, count, start = struct.unpack_from("<IBB", r.data)
    parts = []
    for n in range(start, start + count):
        ident = (r.ns, r.key, n, "data")
        chunk = newest.get(ident)
        if chunk is None:
            st.problem(
                r.page,
                r.entry,
                f"blob {r.key!r}: chunk {n} of {start}..{start + count - 1} is missing",
            )
            return None
        used.add(ident)
        parts.append(chunk.payload)
    blob = b"".join(parts)
    if len(blob) != size:
        st.problem(
            r.page, r.entry, f"blob {r.key!r}: chunks hold {len(blob)} bytes, index says {size}"
        )
        return None
    return blob


def _item(r: _Raw, namespace: str, value: int | str | bytes | None) -> NvsItem:
    kind = "blob" if r.type == fmt.T_BLOB_IDX else fmt.TYPE_NAMES[r.type]
    return NvsItem(namespace, r.key, kind, value, r.page, r.entry, r.seq)
