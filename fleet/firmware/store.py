"""The firmware store: validated bundles under `<home>/firmware/<id>/`, indexed in the registry.

An entry's id is the first 12 hex digits of the SHA-256 over its files (role, offset and
bytes), so importing the same build twice gives the same entry. Files are written to a
temporary folder and renamed into place before the registry row is committed; a half
import leaves nothing behind. The stored folder is itself a bundle (`flasher_args.json`
included) that esptool users can flash by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fleet.errors import Conflict, CorruptData, NotFound, ValidationError
from fleet.firmware.bundle import read_bundle
from fleet.firmware.chips import chip as chip_facts
from fleet.firmware.models import FirmwareAssignmentRow, FirmwareRow
from fleet.firmware.validate import FirmwareBundle, validate_bundle
from fleet.registry import Registry
from fleet.registry.node import Node

STORE_DIR = "firmware"
FILE_NAMES = {
    "bootloader": "bootloader.bin",
    "partition-table": "partition-table.bin",
    "otadata": "ota_data_initial.bin",
    "app": "app.bin",
}
KINDS = ("node_type", "node")


@dataclass(frozen=True)
class FirmwareEntry:
    """One stored firmware, as `fleet firmware list` shows it."""

    id: str
    chip: str
    project: str
    version: str
    idf_version: str
    sha256: str  # of the app binary
    app_size: int
    ota: bool  # the table has OTA slots
    files: dict[str, Any]

    @classmethod
    def from_row(cls, row: FirmwareRow) -> FirmwareEntry:
        return cls(
            id=row.id,
            chip=row.chip,
            project=row.project,
            version=row.version,
            idf_version=row.idf_version,
            sha256=row.app_sha256,
            app_size=row.app_size,
            ota="otadata" in row.files,
            files=dict(row.files),
        )


@dataclass(frozen=True)
class Assignment:
    """A firmware assigned to a node type or a node, for one chip."""

    kind: str
    target: str
    chip: str
    firmware_id: str


def bundle_id(bundle: FirmwareBundle) -> str:
    """The content id of a bundle: 12 hex digits of SHA-256 over role, offset and bytes."""
    h = hashlib.sha256(bundle.chip.encode())
    for f in bundle.files:
        h.update(f"{f.role}@{f.offset:x}:{len(f.data)}\n".encode())
        h.update(f.data)
    return h.hexdigest()[:12]


def _flasher_args(bundle: FirmwareBundle) -> dict[str, Any]:
    settings = {
        "flash_mode": bundle.flash_mode,
        "flash_size": bundle.flash_size,
        "flash_freq": bundle.flash_freq,
    }
    files = {f.role: (f.offset, FILE_NAMES[f.role]) for f in bundle.files}
    return {
        "write_flash_args": [a for k, v in settings.items() for a in (f"--{k}", v)],
        "flash_settings": settings,
        "flash_files": {f"0x{off:x}": name for off, name in files.values()},
        **{
            role: {"offset": f"0x{off:x}", "file": name, "encrypted": "false"}
            for role, (off, name) in files.items()
        },
        "extra_esptool_args": {
            "after": "hard_reset",
            "before": "default_reset",
            "stub": True,
            "chip": bundle.chip,
        },
    }


class FirmwareStore:
    """Import, list, load and assign firmware of one data directory."""

    def __init__(self, registry: Registry, home: Path) -> None:
        self.registry = registry
        self.root = home / STORE_DIR

    def path(self, firmware_id: str) -> Path:
        """The folder of a stored firmware."""
        return self.root / firmware_id

    def import_bundle(self, source: Path | str) -> tuple[FirmwareEntry, bool]:
        """Validate and store the bundle at `source`; returns (entry, newly_added).

        Refuses (ValidationError naming the file and reason) anything `validate_bundle`
        refuses; nothing is stored then. Importing a bundle already stored returns the
        existing entry with `newly_added` False.
        """
        bundle = validate_bundle(read_bundle(source))
        fid = bundle_id(bundle)
        with self.registry.session() as s:
            existing = s.get(FirmwareRow, fid)
            if existing is not None:
                return FirmwareEntry.from_row(existing), False
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(fid)
        if final.exists():  # left over from an import whose registry write failed
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{fid}.", dir=self.root))
        try:
            for f in bundle.files:
                (tmp / FILE_NAMES[f.role]).write_bytes(f.data)
            (tmp / "flasher_args.json").write_text(json.dumps(_flasher_args(bundle), indent=2))
            for child in tmp.iterdir():
                with child.open("rb") as fh:
                    os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        files = {
            f.role: {
                "offset": f.offset,
                "size": len(f.data),
                "sha256": hashlib.sha256(f.data).hexdigest(),
            }
            for f in bundle.files
        }
        row = FirmwareRow(
            id=fid,
            chip=bundle.chip,
            project=bundle.app.project,
            version=bundle.app.version,
            idf_version=bundle.app.idf_version,
            app_sha256=bundle.app_sha256,
            app_size=files["app"]["size"],
            flash_mode=bundle.flash_mode,
            flash_size=bundle.flash_size,
            flash_freq=bundle.flash_freq,
            files=files,
            source=str(source)[:512],
        )
        try:
            with self.registry.session() as s:
                s.add(row)
                entry = FirmwareEntry.from_row(row)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        self.registry.audit(
            "firmware.import",
            detail={
                "firmware_id": fid,
                "chip": entry.chip,
                "version": entry.version,
                "project": entry.project,
                "sha256": entry.sha256,
            },
        )
        return entry, True

    def entries(self, chip: str | None = None) -> list[FirmwareEntry]:
        """Every stored firmware (optionally of one chip), newest import first."""
        with self.registry.session() as s:
            q = select(FirmwareRow).order_by(FirmwareRow.imported_at.desc())
            if chip:
                q = q.where(FirmwareRow.chip == chip_facts(chip).name)
            return [FirmwareEntry.from_row(r) for r in s.scalars(q)]

    def get(self, firmware_id: str) -> FirmwareEntry:
        """The entry whose id is or starts with `firmware_id` (at least 4 digits).

        NotFound when none matches; Conflict when a prefix matches several.
        """
        with self.registry.session() as s:
            row = s.get(FirmwareRow, firmware_id)
            if row is not None:
                return FirmwareEntry.from_row(row)
            if len(firmware_id) >= 4:
                q = select(FirmwareRow).where(FirmwareRow.id.startswith(firmware_id))
                rows = list(s.scalars(q))
                if len(rows) == 1:
                    return FirmwareEntry.from_row(rows[0])
                if len(rows) > 1:
                    raise Conflict(
                        f"firmware id {firmware_id!r} is ambiguous", firmware=firmware_id
                    )
        raise NotFound(f"firmware {firmware_id} is not in the store", firmware=firmware_id)

    def load(self, firmware_id: str) -> tuple[FirmwareEntry, FirmwareBundle]:
        """The stored bundle, re-read from disk and checked against the registry.

        CorruptData (naming the file) when a stored file is missing or changed since import.
        """
        entry = self.get(firmware_id)
        folder = self.path(entry.id)
        try:
            bundle = validate_bundle(read_bundle(folder))
        except (ValidationError, NotFound) as exc:
            raise CorruptData(
                f"stored firmware {entry.id} at {folder} is damaged: {exc.message}",
                firmware=entry.id,
            ) from exc
        for f in bundle.files:
            want = entry.files.get(f.role, {}).get("sha256")
            if want != hashlib.sha256(f.data).hexdigest():
                raise CorruptData(
                    f"stored firmware {entry.id}: {folder / FILE_NAMES[f.role]} changed since "
                    "import",
                    firmware=entry.id,
                )
        return entry, bundle

    def assign(
        self, firmware_id: str, *, node_type: str | None = None, node: Node | None = None
    ) -> Assignment:
        """Assign a firmware to a node type or to one node (exactly one of them).

        A node's assignment wins over its type's. ValidationError when the firmware's chip is
        not the node's chip. Replaces an earlier assignment of the same target and chip.
        """
        if (node_type is None) == (node is None):
            raise ValidationError("assign a firmware to a node type or to a node, not both")
        entry = self.get(firmware_id)
        if node is not None and node.chip != entry.chip:
            raise ValidationError(
                f"firmware {entry.id} is for {entry.chip}, node {node.uid} is {node.chip}",
                node_uid=node.uid,
            )
        kind, target = ("node", node.uid) if node is not None else ("node_type", str(node_type))
        with self.registry.session() as s:
            row = s.get(FirmwareAssignmentRow, (kind, target, entry.chip))
            if row is None:
                s.add(
                    FirmwareAssignmentRow(
                        kind=kind, target=target, chip=entry.chip, firmware_id=entry.id
                    )
                )
            else:
                row.firmware_id = entry.id
        self.registry.audit(
            "firmware.assign",
            node_uid=node.uid if node is not None else None,
            detail={"firmware_id": entry.id, "kind": kind, "target": target, "chip": entry.chip},
        )
        return Assignment(kind, target, entry.chip, entry.id)

    def assignments(self) -> list[Assignment]:
        """Every assignment, by kind and target."""
        with self.registry.session() as s:
            rows = s.scalars(
                select(FirmwareAssignmentRow).order_by(
                    FirmwareAssignmentRow.kind, FirmwareAssignmentRow.target
                )
            )
            return [Assignment(r.kind, r.target, r.chip, r.firmware_id) for r in rows]

    def resolve(self, node: Node) -> FirmwareEntry:
        """The firmware `node` gets: its own assignment, else its node type's (same chip).

        NotFound naming the node, its type and chip when neither exists.
        """
        with self.registry.session() as s:
            for kind, target in (("node", node.uid), ("node_type", node.node_type)):
                row = s.get(FirmwareAssignmentRow, (kind, target, node.chip))
                if row is not None:
                    return FirmwareEntry.from_row(s.get_one(FirmwareRow, row.firmware_id))
        raise NotFound(
            f"no firmware assigned to node {node.uid} (type {node.node_type}, chip {node.chip}): "
            f"run `fleet firmware assign ID --node-type {node.node_type}`",
            node_uid=node.uid,
        )
