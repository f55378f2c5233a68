"""Verification of snapshots: structure (no key needed) and `read_data` (with the identity).

Structure: `manifest.mac` matches the manifest's SHA-256, the manifest parses and names its
own folder, every artifact file exists with the recorded size and ciphertext SHA-256, and no
unlisted file sits among the artifacts. Read-data adds: the seal opens with the identity, the
manifest's HMAC holds, every artifact decrypts and its plaintext SHA-256 matches, and every
file inside a tar artifact matches its recorded SHA-256 (every byte is read).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pyrage import x25519

from fleet.backup import agecrypt, tarstream
from fleet.backup.manifest import (
    ARTIFACTS,
    MAC,
    SEAL,
    ArtifactRecord,
    Manifest,
    check_digest,
    check_mac,
    unseal,
)
from fleet.backup.repository import Repository, VerifyState, utcnow
from fleet.errors import FleetError

CHUNK = 1024 * 1024


@dataclass
class VerifyReport:
    """The outcome for one snapshot: `problems` names each damaged thing."""

    snapshot: str
    ok: bool
    level: str
    problems: list[str] = field(default_factory=list)
    artifacts: int = 0
    bytes_read: int = 0


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def verify_snapshot(
    repo: Repository,
    snapshot_id: str,
    identity: x25519.Identity | None = None,
    record: bool = True,
) -> VerifyReport:
    """Verify one snapshot; with `identity`, decrypt and check every byte (`read_data`).

    Never raises for damage: each problem goes into the report (named: snapshot, file,
    artifact, entry). Records the outcome in the repository unless `record` is False.
    """
    level = "data" if identity is not None else "structure"
    report = VerifyReport(snapshot=snapshot_id, ok=False, level=level)
    try:
        _verify(repo, snapshot_id, identity, report)
    except FleetError as exc:
        report.problems.append(exc.message)
    report.ok = not report.problems
    if record:
        repo.record_verify(
            VerifyState(snapshot_id, report.ok, level, utcnow(), list(report.problems))
        )
    return report


def _verify(
    repo: Repository, sid: str, identity: x25519.Identity | None, report: VerifyReport
) -> None:
    folder = repo.snapshot_dir(sid)
    data = repo.manifest_bytes(sid)
    try:
        mac_doc = check_digest(sid, data, (folder / MAC).read_bytes())
    except FileNotFoundError:
        report.problems.append(f"snapshot {sid}: {MAC} is missing")
        return
    man = repo.manifest(sid)
    listed = {a.file for a in man.artifacts}
    art_root = folder / ARTIFACTS
    if art_root.is_dir():
        for path in sorted(art_root.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and rel not in listed:
                report.problems.append(f"snapshot {sid}: unlisted file {rel}")
    for rec in man.artifacts:
        _check_cipher(folder, sid, rec, report)
    if identity is None or report.problems:
        return
    try:
        sealed = (folder / SEAL).read_bytes()
    except FileNotFoundError:
        report.problems.append(f"snapshot {sid}: {SEAL} is missing")
        return
    key = unseal(sid, agecrypt.decrypt_bytes(sealed, identity, f"snapshot {sid}: {SEAL}"))
    check_mac(sid, data, mac_doc, key)
    for rec in man.artifacts:
        _check_plain(repo, man, rec, identity, report)


def _check_cipher(folder: Path, sid: str, rec: ArtifactRecord, report: VerifyReport) -> None:
    path = folder / rec.file
    what = f"snapshot {sid}: artifact {rec.file}"
    if not path.is_file():
        report.problems.append(f"{what} is missing")
        return
    size, digest = _file_digest(path)
    report.bytes_read += size
    report.artifacts += 1
    if size != rec.cipher_size:
        report.problems.append(f"{what}: size {size}, manifest says {rec.cipher_size} (truncated?)")
    elif digest != rec.cipher_sha256:
        report.problems.append(f"{what}: content does not match the manifest SHA-256")


def _check_plain(
    repo: Repository,
    man: Manifest,
    rec: ArtifactRecord,
    identity: x25519.Identity,
    report: VerifyReport,
) -> None:
    what = f"snapshot {man.id}: artifact {rec.file}"
    try:
        with repo.open_artifact(man.id, rec, identity) as reader:
            if rec.encoding == "tar+zstd" and "files" in rec.meta:
                tarstream.read_tar(reader, what, expected=list(rec.meta["files"]))
            while reader.read(CHUNK):
                pass
    except FleetError as exc:
        report.problems.append(exc.message)


def check_written(repo: Repository, snapshot_id: str) -> VerifyReport:
    """The cheap check right after a write: manifest digest, every artifact present with its
    recorded size. Level `written`: hashes were computed while writing; re-reading now would
    only read the page cache, so a real `verify` is left for later."""
    report = VerifyReport(snapshot=snapshot_id, ok=False, level="written")
    try:
        folder = repo.snapshot_dir(snapshot_id)
        check_digest(snapshot_id, repo.manifest_bytes(snapshot_id), (folder / MAC).read_bytes())
        for rec in repo.manifest(snapshot_id).artifacts:
            path = folder / rec.file
            size = path.stat().st_size if path.is_file() else -1
            report.artifacts += 1
            if size != rec.cipher_size:
                report.problems.append(f"snapshot {snapshot_id}: artifact {rec.file}: size {size}")
    except (FleetError, OSError) as exc:
        report.problems.append(str(exc))
    report.ok = not report.problems
    repo.record_verify(VerifyState(snapshot_id, report.ok, "written", utcnow(), report.problems))
    return report


def verify_all(repo: Repository, identity: x25519.Identity | None = None) -> list[VerifyReport]:
    """Verify every listed snapshot, oldest first."""
    return [verify_snapshot(repo, sid, identity) for sid in repo.snapshot_ids()]
