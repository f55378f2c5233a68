"""The WAL archive: PostgreSQL's `archive_command` / `restore_command` target, in the repository.

Layout (one folder per timeline, as PostgreSQL names files)::

    <repository>/wal/<TLI: 8 hex>/<name>.zst.age   zstd, then age to the backup recipients
    <repository>/wal/<TLI: 8 hex>/<name>.json      {"name","size","sha256","cipher_sha256",...}

The `.json` file is the commit mark: it is written (aside, fsync, rename) only after the
encrypted segment is durable, so a killed push leaves nothing a fetch would trust. A push of a
name that is already archived succeeds when the bytes are identical (PostgreSQL retries pushes
after a crash) and is refused, naming the segment, when they differ (two clusters writing one
archive). A segment is restored with stock tools: `age -d -i ID F.zst.age | zstd -d > F`.

Only the recipients' public keys are needed to push; fetching needs the identity file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pydantic
import pyrage
import zstandard
from pyrage import x25519

from fleet.backup.postgres.lsn import segment_number
from fleet.errors import BackupError, ConfigError, Conflict, CorruptData, NotFound, UsageError
from fleet.settings import Settings

WAL_DIR = "wal"
_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
_NAME = re.compile(r"^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$")
_CHUNK = 1024 * 1024


class ArchiveSettings(pydantic.BaseModel):
    """What the WAL archive reads from the `[backup]` table (other keys belong to others)."""

    model_config = pydantic.ConfigDict(extra="ignore")
    repository: str | None = None
    recipients: list[str] = []
    identity: str | None = None  # age identity file, needed only to fetch


@dataclass(frozen=True)
class WalFile:
    """One archived file, as recorded in its `.json` mark."""

    name: str
    timeline: int
    size: int
    sha256: str
    cipher_sha256: str
    archived_at: str


@dataclass(frozen=True)
class PushResult:
    """What `push` did: `stored` for a new file, `already` for an identical re-push."""

    name: str
    outcome: str
    size: int
    sha256: str


def is_segment(name: str) -> bool:
    """Whether `name` is a plain WAL segment name (24 hex digits)."""
    return bool(_SEGMENT.match(name))


def check_name(name: str) -> str:
    """`name` if PostgreSQL could archive a file so named; UsageError otherwise.

    Keeps anything with a path separator or `..` out of the repository.
    """
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a WAL segment, history or backup file name", name=name)
    return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class _HashingWriter:
    """A file wrapper that hashes and counts what passes through it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


class WalArchive:
    """The `wal/` folder of one repository."""

    def __init__(
        self,
        repository: Path,
        recipients: list[str] | None = None,
        identity: Path | None = None,
    ) -> None:
        self.root = Path(repository) / WAL_DIR
        self.recipient_keys = list(recipients or [])
        self.identity_path = identity

    @classmethod
    def from_settings(cls, settings: Settings) -> WalArchive:
        """The archive of the `[backup]` repository. ConfigError when no repository is set."""
        cfg = settings.section("backup", ArchiveSettings)
        if not cfg.repository:
            raise ConfigError("backup.repository is not set (where WAL is archived)")
        identity = Path(cfg.identity).expanduser() if cfg.identity else None
        if identity is not None and not identity.is_absolute():
            identity = settings.home / identity
        return cls(Path(cfg.repository).expanduser(), cfg.recipients, identity)

    # -- paths -------------------------------------------------------------------------

    def _folder(self, name: str) -> Path:
        return self.root / name[:8]

    def data_path(self, name: str) -> Path:
        """Where the encrypted copy of `name` lives."""
        return self._folder(name) / f"{name}.zst.age"

    def shell_has(self, name_expr: str) -> str:
        """A POSIX shell test that succeeds when the file named by `name_expr` is archived.

        `name_expr` is already shell-safe (e.g. PostgreSQL's `%f`); used to answer "not in
        the archive" without starting Python (recovery asks for files past the end often).
        """
        root = shlex.quote(str(self.root))
        return f'test -f {root}/"$(printf %%.8s {name_expr})"/{name_expr}.json'

    def mark_path(self, name: str) -> Path:
        """Where the commit mark (metadata) of `name` lives."""
        return self._folder(name) / f"{name}.json"

    # -- keys --------------------------------------------------------------------------

    def _recipients(self) -> list[x25519.Recipient]:
        if not self.recipient_keys:
            raise ConfigError("backup.recipients is empty: WAL would be stored unencrypted")
        out = []
        for key in self.recipient_keys:
            try:
                out.append(x25519.Recipient.from_str(key))
            except Exception as exc:
                raise ConfigError(
                    f"backup.recipients: {key[:12]}... is not an age X25519 key"
                ) from exc
        return out

    def _identity(self) -> x25519.Identity:
        if self.identity_path is None:
            raise ConfigError("backup.identity is not set (the age identity file to fetch WAL)")
        try:
            text = self.identity_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read identity file {self.identity_path}: {exc.strerror}"
            ) from exc
        keys = [ln.strip() for ln in text.splitlines() if ln.startswith("AGE-SECRET-KEY-")]
        if not keys:
            raise ConfigError(f"identity file {self.identity_path} holds no AGE-SECRET-KEY line")
        try:
            return x25519.Identity.from_str(keys[0])
        except Exception as exc:
            raise ConfigError(
                f"identity file {self.identity_path} is not a valid age identity"
            ) from exc

    # -- operations --------------------------------------------------------------------

    def lookup(self, name: str) -> WalFile | None:
        """The mark of an archived file, or None when `name` is not (completely) archived."""
        check_name(name)
        try:
            raw: dict[str, Any] = json.loads(self.mark_path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CorruptData(f"WAL mark {self.mark_path(name)} is unreadable: {exc}") from exc
        return WalFile(
            name=raw["name"],
            timeline=int(raw["timeline"]),
            size=int(raw["size"]),
            sha256=raw["sha256"],
            cipher_sha256=raw["cipher_sha256"],
            archived_at=raw["archived_at"],
        )

    def push(self, source: Path) -> PushResult:
        """Archive the file at `source` under its own name (the `archive_command`).

        Durable before it returns (file, mark and folder fsynced). Idempotent: an identical
        file already archived is `already`. Raises Conflict, naming the segment and both
        digests, when a different file is archived under that name; NotFound when `source`
        does not exist.
        """
        name = check_name(source.name)
        if not source.is_file():
            raise NotFound(f"WAL file {source} does not exist", path=source)
        sha, size = _file_sha256(source)
        existing = self.lookup(name)
        if existing is not None:
            if existing.sha256 == sha and existing.size == size:
                return PushResult(name, "already", size, sha)
            raise Conflict(
                f"WAL file {name} is already archived with different content "
                f"(archived sha256 {existing.sha256[:16]}..., new {sha[:16]}...): "
                "is a second cluster archiving into this repository?",
                segment=name,
            )
        recipients = self._recipients()
        folder = self._folder(name)
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        try:
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                _fsync_dir(folder.parent)
            with source.open("rb") as src, tmp.open("wb") as out:
                writer = _HashingWriter(out)
                reader = zstandard.ZstdCompressor(level=3).stream_reader(src)
                pyrage.encrypt_io(reader, writer, recipients)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.data_path(name))
            mark = {
                "name": name,
                "timeline": int(name[:8], 16),
                "size": size,
                "sha256": sha,
                "cipher_sha256": writer.digest.hexdigest(),
                "compression": "zstd",
                "encryption": "age",
                "archived_at": dt.datetime.now(dt.UTC).isoformat(),
            }
            mark_tmp = folder / f".{name}.json.{os.getpid()}.tmp"
            with mark_tmp.open("w", encoding="utf-8") as fh:
                json.dump(mark, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(mark_tmp, self.mark_path(name))
            _fsync_dir(folder)
        except OSError as exc:
            raise BackupError(
                f"cannot archive WAL file {name} into {folder}: {exc.strerror or exc}",
                segment=name,
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return PushResult(name, "stored", size, sha)

    def fetch(self, name: str, dest: Path) -> WalFile:
        """Restore archived `name` to `dest` (the `restore_command`), verified by SHA-256.

        Raises NotFound when `name` is not archived (PostgreSQL asks for files past the end
        of the archive; that is normal), CorruptData when the copy does not decrypt or its
        digest differs from the mark. `dest` appears only once complete.
        """
        mark = self.lookup(name)
        if mark is None:
            raise NotFound(f"WAL file {name} is not in the archive {self.root}", segment=name)
        identity = self._identity()
        dest_tmp = dest.with_name(f".{dest.name}.{os.getpid()}.fetch")
        try:
            with self.data_path(name).open("rb") as src, dest_tmp.open("wb") as out:
                writer = _HashingWriter(out)
                sink = zstandard.ZstdDecompressor().stream_writer(writer, closefd=False)  # type: ignore[arg-type]
                try:
                    pyrage.decrypt_io(src, sink, [identity])
                except pyrage.DecryptError as exc:
                    raise CorruptData(
                        f"WAL file {name} does not decrypt with {self.identity_path}: {exc}",
                        segment=name,
                    ) from exc
                except zstandard.ZstdError as exc:
                    raise CorruptData(f"WAL file {name} is damaged: {exc}", segment=name) from exc
                sink.flush()  # type: ignore[no-untyped-call]
                out.flush()
                os.fsync(out.fileno())
            if writer.digest.hexdigest() != mark.sha256 or writer.size != mark.size:
                raise CorruptData(
                    f"WAL file {name}: restored bytes do not match the archived SHA-256",
                    segment=name,
                )
            os.replace(dest_tmp, dest)
        except FileNotFoundError as exc:
            if exc.filename and str(exc.filename) == str(self.data_path(name)):
                raise CorruptData(f"WAL file {name}: encrypted copy missing", segment=name) from exc
            raise BackupError(f"cannot restore WAL file {name} to {dest}: {exc}") from exc
        except OSError as exc:
            raise BackupError(
                f"cannot restore WAL file {name} to {dest}: {exc.strerror or exc}", segment=name
            ) from exc
        finally:
            dest_tmp.unlink(missing_ok=True)
        return mark

    def files(self) -> Iterator[WalFile]:
        """Every completely archived file, sorted by name."""
        if not self.root.is_dir():
            return
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for mark in sorted(folder.glob("*.json")):
                found = self.lookup(mark.name[: -len(".json")])
                if found is not None:
                    yield found

    def segments(self) -> list[WalFile]:
        """The archived plain segments, sorted by name (timeline, then position)."""
        return [f for f in self.files() if is_segment(f.name)]

    def newest(self) -> WalFile | None:
        """The most recently archived segment (highest timeline and position), if any."""
        segs = self.segments()
        return segs[-1] if segs else None


def prune_plan(
    files: list[WalFile],
    oldest_base: tuple[int, int] | None,
    cutoff: dt.datetime | None,
) -> list[WalFile]:
    """Which archived files retention may delete (pure; deletes nothing itself).

    `oldest_base`: (timeline, start segment number) of the oldest base backup that is kept;
    `cutoff`: files archived before it are past the WAL retention window. A file goes only
    when both say so: archived before `cutoff` *and* wholly before the oldest kept base
    backup's start (a segment number below it; such WAL is needed by no kept base backup).
    No kept base backup or no cutoff (a missing or zero setting) deletes nothing. Timeline
    history files are always kept (they are tiny and recovery reads them).
    """
    if oldest_base is None or cutoff is None:
        return []
    _timeline, start_seg = oldest_base
    doomed = []
    for f in files:
        if f.name.endswith(".history"):
            continue
        if dt.datetime.fromisoformat(f.archived_at) >= cutoff:
            continue
        if segment_number(f.name[:24]) < start_seg:
            doomed.append(f)
    return doomed


def delete_files(archive: WalArchive, doomed: list[WalFile]) -> int:
    """Delete archived files (mark first, so a half-deleted file is never trusted); count."""
    for f in doomed:
        archive.mark_path(f.name).unlink(missing_ok=True)
        archive.data_path(f.name).unlink(missing_ok=True)
    for folder in {archive.mark_path(f.name).parent for f in doomed}:
        if folder.is_dir():
            _fsync_dir(folder)
    return len(doomed)
