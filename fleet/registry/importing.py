"""Bulk import of nodes from CSV/JSON files or the hydro 2.0 database: all or nothing."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.errors import Conflict, FleetError, NotFound, ValidationError
from fleet.protocol.ids import check_secret
from fleet.registry.repo import NodeSpec, Registry
from fleet.vault import Vault

FIELDS = (
    "uid",
    "hardware_id",
    "mac",
    "chip",
    "node_type",
    "gh_uid",
    "zone_uid",
    "name",
    "fw_version",
)
# Column names other tools use for the same thing.
ALIASES = {
    "node_uid": "uid",
    "type": "node_type",
    "gh": "gh_uid",
    "zone": "zone_uid",
    "firmware_version": "fw_version",
    "secret": "node_secret",
}


@dataclass(frozen=True)
class ImportRow:
    """One validated row: the node and, optionally, its secret (kept out of repr)."""

    spec: NodeSpec
    secret: str | None

    def __repr__(self) -> str:
        return f"ImportRow({self.spec.uid!r}, secret={'set' if self.secret else 'none'})"


@dataclass(frozen=True)
class ImportResult:
    imported: int
    secrets_given: int
    secrets_generated: int
    source: str


def _row_to_import(raw: dict[str, Any], where: str) -> ImportRow:
    data: dict[str, Any] = {}
    for key, value in raw.items():
        if key is None:
            raise ValidationError(f"{where}: more values than columns")
        k = ALIASES.get(key.strip().lower(), key.strip().lower())
        if isinstance(value, str):
            value = value.strip()
        if value in ("", None):
            continue
        data[k] = value
    unknown = set(data) - set(FIELDS) - {"node_secret"}
    if unknown:
        raise ValidationError(f"{where}: unknown column(s) {', '.join(sorted(unknown))}")
    secret = data.pop("node_secret", None)
    try:
        if secret is not None:
            check_secret(str(secret))
        spec = NodeSpec(**{k: str(v) for k, v in data.items()})
    except TypeError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    except FleetError as exc:
        raise ValidationError(f"{where}: {exc.message}") from None
    return ImportRow(spec, str(secret) if secret is not None else None)


def read_rows(path: Path) -> list[ImportRow]:
    """Rows of a CSV (header line) or JSON (a list of objects, or {"nodes": [...]}) file."""
    if not path.exists():
        raise NotFound(f"import file {path} does not exist", path=path)
    text = path.read_text(encoding="utf-8-sig")
    rows: list[ImportRow] = []
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"{path}: not valid JSON ({exc})", path=path) from None
        items = doc.get("nodes") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise ValidationError(f"{path}: expected a list of nodes", path=path)
        for i, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ValidationError(f"{path}: node #{i} is not an object", path=path)
            rows.append(_row_to_import(item, f"{path.name} node #{i}"))
    else:
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise ValidationError(f"{path}: empty CSV (no header line)", path=path)
        for line_no, item in enumerate(reader, start=2):
            rows.append(_row_to_import(dict(item), f"{path.name} line {line_no}"))
    _check_unique(rows)
    return rows


def _check_unique(rows: Iterable[ImportRow]) -> None:
    seen_uid: set[str] = set()
    seen_hw: set[str] = set()
    for r in rows:
        if r.spec.uid in seen_uid:
            raise Conflict(f"node {r.spec.uid} appears twice in the import", node_uid=r.spec.uid)
        seen_uid.add(r.spec.uid)
        if r.spec.hardware_id:
            if r.spec.hardware_id in seen_hw:
                raise Conflict(
                    f"hardware_id {r.spec.hardware_id} appears twice in the import",
                    node_uid=r.spec.uid,
                )
            seen_hw.add(r.spec.hardware_id)


def import_rows(
    registry: Registry,
    vault: Vault,
    rows: list[ImportRow],
    source: str,
    action: str = "node.import",
) -> ImportResult:
    """Register `rows` in one transaction; secrets go to the vault (generated when absent).

    All or nothing: on any error no node is added. Secrets are written after the nodes
    commit; should that fail, the nodes have no secret yet and re-running
    `fleet nodes import` reports them as already registered while `fleet nodes show`
    says the secret is missing.
    """
    for r in rows:
        if r.secret is not None:
            check_secret(r.secret)
    registry.add_nodes([r.spec for r in rows], action=action, audit_detail={"source": source})
    given = generated = 0
    for r in rows:
        vault.set_node_secret(r.spec.uid, r.secret)
        if r.secret:
            given += 1
        else:
            generated += 1
    return ImportResult(len(rows), given, generated, source)
