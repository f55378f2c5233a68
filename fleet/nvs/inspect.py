"""Look into NVS images: describe, verify (parse + CRCs + NodeConfig rules), diff NodeConfigs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fleet.errors import FleetError
from fleet.nvs.model import NvsPartition
from fleet.nvs.nodeconfig import KEY, NAMESPACE, decode_nodeconfig, mask_secrets
from fleet.nvs.parser import parse_partition
from fleet.nvs.rules import violations

_SECRET_PATHS = {"node_secret", "wifi.pass", "mqtt.password"}


@dataclass
class Report:
    """What `verify` found: the NodeConfig (if readable) and every problem, by kind."""

    source: str
    partition: NvsPartition | None = None
    config: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the image parsed cleanly and its NodeConfig breaks no rule."""
        return not self.problems


def verify(
    image: bytes,
    key: bytes | None = None,
    *,
    source: str = "image",
    node_uid: str | None = None,
    expected_size: int | None = None,
) -> Report:
    """Parse `image`, check every CRC and the NodeConfig against the firmware's rules.

    Never raises for a bad image: every problem is listed in the report (named by page and
    entry, or by NodeConfig field). `node_uid` also checks that node_id is that node.
    """
    report = Report(source)
    try:
        part = parse_partition(image, key, strict=False, expected_size=expected_size)
    except FleetError as exc:
        report.problems.append(exc.message)
        return report
    report.partition = part
    report.problems += [f"NVS {p}" for p in part.problems]
    try:
        text = part.get(NAMESPACE, KEY)
        if not isinstance(text, str):
            raise FleetError(f"{NAMESPACE}/{KEY} is not a string")
        report.config = decode_nodeconfig(text)
    except FleetError as exc:
        report.problems.append(exc.message)
        return report
    who = node_uid or str(report.config.get("node_id", "?"))
    for v in violations(report.config, node_uid):
        report.problems.append(f"NodeConfig of {who}: {v.field}: {v.rule}")
    return report


def describe(part: NvsPartition, reveal: bool = False) -> dict[str, Any]:
    """A JSON-ready view of a parsed partition; NodeConfig secrets masked unless `reveal`."""
    values: dict[str, Any] = {}
    for it in part.items:
        value: Any = it.value
        if it.namespace == NAMESPACE and it.key == KEY and isinstance(value, str):
            try:
                cfg = json.loads(value)
                value = cfg if reveal or not isinstance(cfg, dict) else mask_secrets(cfg)
            except json.JSONDecodeError:
                value = value if reveal else "(not JSON; hidden, use --reveal-secrets)"
        elif isinstance(value, bytes):
            value = {"blob_bytes": len(value), "hex": value[:64].hex()}
        values.setdefault(it.namespace, {})[it.key] = {"type": it.type, "value": value}
    return {
        "size": part.size,
        "format_version": part.version,
        "encrypted": part.encrypted,
        "pages": [
            {
                "index": p.index,
                "state": p.state,
                "seq": p.seq,
                "written": p.written,
                "erased": p.erased,
                "empty": p.empty,
            }
            for p in part.pages
        ],
        "namespaces": part.namespaces,
        "values": values,
        "superseded_entries": len(part.superseded),
        "orphan_blob_chunks": part.orphan_chunks,
        "problems": [str(p) for p in part.problems],
    }


@dataclass(frozen=True)
class Change:
    """One NodeConfig field that differs: its dotted path, and the value in A and in B."""

    path: str
    a: Any
    b: Any


_MISSING = "(absent)"


def diff_configs(a: dict[str, Any], b: dict[str, Any], reveal: bool = False) -> list[Change]:
    """Field-by-field differences of two NodeConfigs (objects recursed, arrays by index).

    Secret fields that differ are reported with masked values unless `reveal`.
    """
    out: list[Change] = []
    _diff(a, b, "", out)
    if not reveal:
        out = [
            Change(c.path, *(_mask(v) for v in (c.a, c.b))) if c.path in _SECRET_PATHS else c
            for c in out
        ]
    return out


def _mask(value: Any) -> Any:
    return value if value == _MISSING else "********"


def _diff(a: Any, b: Any, path: str, out: list[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            sub = f"{path}.{k}" if path else str(k)
            _diff(a.get(k, _MISSING), b.get(k, _MISSING), sub, out)
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            _diff(
                a[i] if i < len(a) else _MISSING,
                b[i] if i < len(b) else _MISSING,
                f"{path}[{i}]",
                out,
            )
    elif a != b or type(a) is not type(b):
        out.append(Change(path, a, b))
