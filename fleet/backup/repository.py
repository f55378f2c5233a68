"""The snapshot repository: a local folder of complete, encrypted snapshots.

Layout::

    <root>/snapshots/<id>/manifest.json, manifest.mac, seal.age, artifacts/<layer>/<name>.age
    <root>/.tmp/<id>/            a snapshot being written (never listed)
    <root>/verify/<id>.json      the last verification result of <id>
    <root>/lock                  flock(2)-held by the one process writing or pruning
    <root>/wal/                  the WAL archive (fleet.backup.postgres.wal)

A snapshot is written under `.tmp/`, every file fsynced, then renamed into `snapshots/`
and the folder fsynced: it is visible only once complete. The lock is an `flock`, which the
kernel drops when its holder dies, so a killed backup never leaves a lock behind; the file's
text (pid, host, start) only names the holder in the refusal.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pyrage import x25519

from fleet.backup import agecrypt
from fleet.backup.layer import ArtifactStream, StoredArtifact
from fleet.backup.manifest import (
    ARTIFACTS,
    MAC,
    MANIFEST,
    SEAL,
    ArtifactRecord,
    Manifest,
    mac_document,
    seal_plaintext,
)
from fleet.errors import BackupError, Conflict, CorruptData, NotFound

SNAPSHOTS = "snapshots"
TMP = ".tmp"
VERIFY = "verify"
LOCK = "lock"
_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def utcnow() -> str:
    """Now, UTC, ISO 8601 with seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_snapshot_id(now: dt.datetime | None = None) -> str:
    """A sortable id: `YYYYMMDDTHHMMSSZ-xxxxxx`."""
    when = now or dt.datetime.now(dt.UTC)
    return when.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename or create in it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes) -> None:
    """Write `data` aside, fsync, rename to `path`, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@dataclass(frozen=True)
class VerifyState:
    """The last verification of a snapshot: `ok`, `level` (`structure`|`data`), when, why."""

    snapshot: str
    ok: bool
    level: str
    at: str
    problems: list[str]


class Repository:
    """A snapshot repository rooted at `root` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- listing -----------------------------------------------------------------------
    def snapshot_ids(self) -> list[str]:
        """Ids of every complete (renamed-into-place) snapshot, oldest first."""
        base = self.root / SNAPSHOTS
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if _ID.match(p.name) and p.is_dir())

    def snapshot_dir(self, snapshot_id: str) -> Path:
        """The folder of `snapshot_id`; `NotFound` if there is no such snapshot."""
        if not _ID.match(snapshot_id):
            raise NotFound(f"no snapshot {snapshot_id!r} in {self.root}", snapshot=snapshot_id)
        path = self.root / SNAPSHOTS / snapshot_id
        if not path.is_dir():
            raise NotFound(f"no snapshot {snapshot_id!r} in {self.root}", snapshot=snapshot_id)
        return path

    def resolve(self, snapshot_id: str | None) -> str:
        """`snapshot_id`, or the newest snapshot when None (`latest` works too)."""
        if snapshot_id and snapshot_id != "latest":
            self.snapshot_dir(snapshot_id)
            return snapshot_id
        ids = self.snapshot_ids()
        if not ids:
            raise NotFound(f"the repository {self.root} holds no snapshot yet")
        return ids[-1]

    def manifest_bytes(self, snapshot_id: str) -> bytes:
        """The raw `manifest.json` of a snapshot."""
        path = self.snapshot_dir(snapshot_id) / MANIFEST
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise CorruptData(f"snapshot {snapshot_id}: {MANIFEST} is missing") from None

    def manifest(self, snapshot_id: str) -> Manifest:
        """The parsed manifest (not authenticated: use `fleet.backup.verify` for that)."""
        data = self.manifest_bytes(snapshot_id)
        man = Manifest.from_bytes(data, f"snapshot {snapshot_id}: {MANIFEST}")
        if man.id != snapshot_id:
            raise CorruptData(f"snapshot {snapshot_id}: {MANIFEST} names snapshot {man.id}")
        return man

    # -- verification state --------------------------------------------------------------
    def verify_state(self, snapshot_id: str) -> VerifyState | None:
        """The last recorded verification of `snapshot_id`, if any."""
        path = self.root / VERIFY / f"{snapshot_id}.json"
        try:
            return VerifyState(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def record_verify(self, state: VerifyState) -> None:
        """Store a verification result (durably)."""
        folder = self.root / VERIFY
        folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps(state.__dict__, indent=1, sort_keys=True).encode("utf-8")
        write_durable(folder / f"{state.snapshot}.json", data)

    # -- lock ---------------------------------------------------------------------------
    @contextmanager
    def lock(self, purpose: str) -> Iterator[None]:
        """Hold the repository's exclusive lock; `Conflict` naming the holder if taken.

        On entry, leftovers of killed writers under `.tmp/` are removed (safe: we hold the
        lock, so nobody is writing them).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
                raise Conflict(
                    f"repository {self.root} is locked by another fleet process ({holder})",
                    path=self.root,
                ) from None
            info = f"pid {os.getpid()} on {socket.gethostname()} since {utcnow()}: {purpose}"
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode("utf-8"), 0)
            shutil.rmtree(self.root / TMP, ignore_errors=True)
            yield
        finally:
            os.close(fd)  # releases the flock

    # -- writing ------------------------------------------------------------------------
    def begin(self, snapshot_id: str, recipients: list[x25519.Recipient]) -> SnapshotWriter:
        """Start writing a snapshot aside (the caller holds the lock)."""
        return SnapshotWriter(self, snapshot_id, recipients)

    def delete(self, snapshot_id: str) -> None:
        """Remove a snapshot: unlisted first (renamed into `.tmp/`), then its files."""
        src = self.snapshot_dir(snapshot_id)
        trash = self.root / TMP / f"deleting-{snapshot_id}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, trash)
        fsync_dir(src.parent)
        shutil.rmtree(trash, ignore_errors=True)
        (self.root / VERIFY / f"{snapshot_id}.json").unlink(missing_ok=True)

    # -- reading ------------------------------------------------------------------------
    @contextmanager
    def open_artifact(
        self, snapshot_id: str, record: ArtifactRecord, identity: x25519.Identity
    ) -> Iterator[BinaryIO]:
        """The decrypted plaintext of one artifact, as a stream.

        On a clean exit the plaintext size and SHA-256 are checked against the manifest;
        `CorruptData` names the snapshot and artifact when they differ.
        """
        what = f"snapshot {snapshot_id}: artifact {record.file}"
        path = self.snapshot_dir(snapshot_id) / record.file
        try:
            source = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise CorruptData(f"{what} is missing") from None
        with source, agecrypt.decrypt_stream(source, identity, what) as (reader, hasher):
            yield reader
        if (hasher.size, hasher.hexdigest()) != (record.size, record.sha256):
            raise CorruptData(f"{what}: decrypted content does not match the manifest SHA-256")

    def stored_artifacts(
        self, snapshot_id: str, layer: str, identity: x25519.Identity
    ) -> list[StoredArtifact]:
        """The artifacts of `layer` in a snapshot, each openable as decrypted plaintext."""
        man = self.manifest(snapshot_id)
        out = []
        for rec in man.layer_artifacts(layer):

            def opener(rec: ArtifactRecord = rec) -> Any:
                return self.open_artifact(snapshot_id, rec, identity)

            out.append(
                StoredArtifact(
                    layer=rec.layer,
                    name=rec.name,
                    kind=rec.kind,
                    encoding=rec.encoding,
                    size=rec.size,
                    sha256=rec.sha256,
                    meta=rec.meta,
                    open=opener,
                )
            )
        return out


class SnapshotWriter:
    """Writes one snapshot under `.tmp/<id>/` and renames it into place on `commit`."""

    def __init__(
        self, repo: Repository, snapshot_id: str, recipients: list[x25519.Recipient]
    ) -> None:
        self.repo = repo
        self.id = snapshot_id
        self.recipients = recipients
        self.dir = repo.root / TMP / snapshot_id
        (self.dir / ARTIFACTS).mkdir(parents=True)

    def add(self, layer: str, stream: ArtifactStream) -> ArtifactRecord:
        """Stream one artifact through age into the snapshot; return its manifest record."""
        if not _NAME.match(stream.name) or not _NAME.match(layer):
            raise BackupError(f"layer {layer}: artifact name {stream.name!r} is not file-safe")
        rel = f"{ARTIFACTS}/{layer}/{stream.name}.age"
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise BackupError(f"layer {layer}: artifact {stream.name!r} offered twice")
        started = utcnow()
        with open(path, "wb") as out:
            meta, plain, cipher = agecrypt.encrypt_stream(stream.produce, self.recipients, out)
            out.flush()
            os.fsync(out.fileno())
        return ArtifactRecord(
            layer=layer,
            name=stream.name,
            kind=stream.kind,
            encoding=stream.encoding,
            file=rel,
            size=plain.size,
            sha256=plain.hexdigest(),
            cipher_size=cipher.size,
            cipher_sha256=cipher.hexdigest(),
            started_at=started,
            finished_at=utcnow(),
            meta=dict(meta or {}),
        )

    def discard_layer(self, layer: str) -> None:
        """Drop whatever a failed layer wrote."""
        shutil.rmtree(self.dir / ARTIFACTS / layer, ignore_errors=True)

    def commit(self, manifest: Manifest) -> Path:
        """Write manifest, MAC and seal, fsync everything, rename into `snapshots/`."""
        data = manifest.to_bytes()
        key = secrets.token_bytes(32)
        (self.dir / MANIFEST).write_bytes(data)
        (self.dir / MAC).write_bytes(mac_document(self.id, data, key))
        (self.dir / SEAL).write_bytes(
            agecrypt.encrypt_bytes(seal_plaintext(self.id, key), self.recipients)
        )
        for folder, _dirs, files in os.walk(self.dir):
            for name in files:
                with open(os.path.join(folder, name), "rb") as fh:
                    os.fsync(fh.fileno())
            fsync_dir(Path(folder))
        final = self.repo.root / SNAPSHOTS / self.id
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.dir, final)
        fsync_dir(final.parent)
        return final

    def abort(self) -> None:
        """Remove the unfinished snapshot."""
        shutil.rmtree(self.dir, ignore_errors=True)
