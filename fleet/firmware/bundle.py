"""Firmware bundles: what `idf.py build` leaves, read from a directory or a zip.

A bundle is `flasher_args.json` plus the files it names: the bootloader, the partition
table, the app, and `ota_data_initial.bin` when the table has OTA slots. Reading does not
judge the contents; `fleet.firmware.validate` does.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from fleet.errors import NotFound, ValidationError

FLASHER_ARGS = "flasher_args.json"
ROLES = ("bootloader", "partition-table", "otadata", "app")
REQUIRED_ROLES = ("bootloader", "partition-table", "app")
MAX_FILE_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle and where it is written."""

    role: str  # bootloader, partition-table, otadata, app
    offset: int
    name: str  # path inside the bundle, as flasher_args.json names it
    data: bytes


@dataclass(frozen=True)
class RawBundle:
    """A bundle as read, before validation."""

    source: str
    chip: str
    flash_mode: str
    flash_size: str
    flash_freq: str
    files: dict[str, BundleFile]
    flasher_args: dict[str, Any]


def _offset(value: Any, where: str, source: str) -> int:
    try:
        return int(str(value), 0)
    except ValueError:
        raise ValidationError(
            f"{source}: {FLASHER_ARGS} {where} offset {value!r} is not a number", file=source
        ) from None


def _safe_name(name: str, source: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValidationError(
            f"{source}: {FLASHER_ARGS} names {name!r}, outside the bundle", file=source
        )
    return path


class _Reader:
    """Reads files of a bundle from a directory or a zip, relative to flasher_args.json."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.zip: zipfile.ZipFile | None = None
        self.base = PurePosixPath()
        if source.is_dir():
            if not (source / FLASHER_ARGS).is_file():
                raise ValidationError(
                    f"{source}: not a firmware bundle (no {FLASHER_ARGS})", file=source
                )
            return
        if not zipfile.is_zipfile(source):
            raise ValidationError(
                f"{source}: not a firmware bundle (expected an idf.py build directory or a zip "
                f"holding {FLASHER_ARGS})",
                file=source,
            )
        self.zip = zipfile.ZipFile(source)
        candidates = [
            PurePosixPath(n) for n in self.zip.namelist() if PurePosixPath(n).name == FLASHER_ARGS
        ]
        if not candidates:
            raise ValidationError(f"{source}: zip holds no {FLASHER_ARGS}", file=source)
        self.base = min(candidates, key=lambda p: len(p.parts)).parent

    def read(self, name: str) -> bytes:
        rel = _safe_name(name, str(self.source))
        if self.zip is None:
            path = self.source / Path(*rel.parts)
            if not path.is_file():
                raise ValidationError(f"{self.source}: bundle file {name} is missing", file=name)
            if path.stat().st_size > MAX_FILE_SIZE:
                raise ValidationError(f"{self.source}: bundle file {name} is too large", file=name)
            return path.read_bytes()
        member = str(self.base / rel) if self.base.parts else str(rel)
        try:
            info = self.zip.getinfo(member)
        except KeyError:
            raise ValidationError(
                f"{self.source}: bundle file {name} is missing from the zip", file=name
            ) from None
        if info.file_size > MAX_FILE_SIZE:
            raise ValidationError(f"{self.source}: bundle file {name} is too large", file=name)
        return self.zip.read(info)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def read_bundle(source: Path | str) -> RawBundle:
    """Read the bundle at `source` (a build directory or a zip).

    Raises NotFound when `source` does not exist, ValidationError (naming the file) when it
    is not a bundle, `flasher_args.json` is unreadable, or a named file is missing.
    """
    path = Path(source)
    if not path.exists():
        raise NotFound(f"{path}: no such file or directory", path=path)
    reader = _Reader(path)
    try:
        try:
            args = json.loads(reader.read(FLASHER_ARGS))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(f"{path}: {FLASHER_ARGS} is not JSON: {exc}", file=path) from None
        if not isinstance(args, dict):
            raise ValidationError(f"{path}: {FLASHER_ARGS} is not an object", file=path)
        extra = args.get("extra_esptool_args") or {}
        chip = extra.get("chip") if isinstance(extra, dict) else None
        if not isinstance(chip, str):
            raise ValidationError(
                f"{path}: {FLASHER_ARGS} has no extra_esptool_args.chip", file=path
            )
        settings = args.get("flash_settings") or {}
        files: dict[str, BundleFile] = {}
        for role in ROLES:
            entry = args.get(role)
            if entry is None:
                if role in REQUIRED_ROLES:
                    raise ValidationError(f"{path}: {FLASHER_ARGS} names no {role} file", file=path)
                continue
            if not isinstance(entry, dict) or "file" not in entry or "offset" not in entry:
                raise ValidationError(
                    f"{path}: {FLASHER_ARGS} {role} entry needs file and offset", file=path
                )
            name = str(entry["file"])
            files[role] = BundleFile(
                role=role,
                offset=_offset(entry["offset"], role, str(path)),
                name=name,
                data=reader.read(name),
            )
        return RawBundle(
            source=str(path),
            chip=chip,
            flash_mode=str(settings.get("flash_mode", "dio")),
            flash_size=str(settings.get("flash_size", "detect")),
            flash_freq=str(settings.get("flash_freq", "40m")),
            files=files,
            flasher_args=args,
        )
    finally:
        reader.close()
