"""Damage is detected and named: flipped bytes, truncation, swapped artifacts, wrong key,
edited manifest; and restore refuses archive entries that would escape the target."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard

from fleet.backup import agecrypt
from fleet.backup.layer import RestoreOptions, StoredArtifact
from fleet.backup.layers._files import restore_tars
from fleet.backup.repository import Repository
from fleet.backup.runner import run_backup
from fleet.backup.verify import verify_snapshot
from fleet.errors import CorruptData, VaultError


def snapshot(site: Any, layers: list[str]) -> tuple[Repository, str, Path]:
    """Take a snapshot of `layers`; return repository, id and folder."""
    result = run_backup(site.settings(), only=layers)
    repo = Repository(site.repo)
    return repo, result.snapshot, site.repo / "snapshots" / result.snapshot


def flip(path: Path, offset: int) -> None:
    """Flip one bit of the byte at `offset` (negative: from the end)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_intact_snapshot_verifies_with_and_without_identity(site: Any) -> None:
    """A fresh snapshot passes both verification levels."""
    repo, sid, _ = snapshot(site, ["laravel", "python_service"])
    assert (True, []) == (verify_snapshot(repo, sid).ok, verify_snapshot(repo, sid).problems)
    report = verify_snapshot(repo, sid, site.identity())
    assert (True, "data") == (report.ok, report.level)


@pytest.mark.parametrize("offset", [200, -5])
def test_flipped_byte_in_an_artifact_is_named(site: Any, offset: int) -> None:
    """One flipped bit anywhere in an artifact fails verification naming that artifact."""
    repo, sid, folder = snapshot(site, ["laravel"])
    flip(folder / "artifacts/laravel/files.tar.zst.age", offset)
    report = verify_snapshot(repo, sid)
    assert False is report.ok
    assert "artifacts/laravel/files.tar.zst.age" in report.problems[0]
    assert "SHA-256" in report.problems[0]


def test_truncated_artifact_is_named(site: Any) -> None:
    """A truncated artifact is reported with its size."""
    repo, sid, folder = snapshot(site, ["laravel"])
    art = folder / "artifacts/laravel/files.tar.zst.age"
    art.write_bytes(art.read_bytes()[:-1000])
    report = verify_snapshot(repo, sid)
    assert [True] == ["truncated" in p and "files.tar.zst.age" in p for p in report.problems]


def test_artifact_from_another_snapshot_is_detected(site: Any) -> None:
    """An artifact copied over from another snapshot of the same layer does not pass."""
    repo, _, folder1 = snapshot(site, ["python_service"])
    _, sid2, folder2 = snapshot(site, ["python_service"])
    name = "artifacts/python_service/files.tar.zst.age"
    shutil.copyfile(folder1 / name, folder2 / name)
    report = verify_snapshot(repo, sid2)
    assert False is report.ok
    assert f"snapshot {sid2}: artifact {name}" in report.problems[0]


def test_flipped_byte_in_the_manifest_is_named(site: Any) -> None:
    """Any change to manifest.json is caught, even without the identity."""
    repo, sid, folder = snapshot(site, ["python_service"])
    flip(folder / "manifest.json", 40)
    report = verify_snapshot(repo, sid)
    assert False is report.ok
    assert "manifest.json" in report.problems[0]


def test_manifest_edited_with_matching_checksum_fails_the_hmac(site: Any) -> None:
    """An edit that also rewrites the plain checksum is caught by the sealed HMAC."""
    import hashlib

    repo, sid, folder = snapshot(site, ["python_service"])
    man = json.loads((folder / "manifest.json").read_text())
    man["site"] = "evil"
    data = (json.dumps(man, sort_keys=True, indent=1) + "\n").encode()
    (folder / "manifest.json").write_bytes(data)
    mac = json.loads((folder / "manifest.mac").read_text())
    mac["manifest_sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.mac").write_text(json.dumps(mac))
    assert True is verify_snapshot(repo, sid).ok  # the plain checksum alone cannot tell
    report = verify_snapshot(repo, sid, site.identity())
    assert [f"snapshot {sid}: manifest.json fails its HMAC (edited?)"] == report.problems


def test_wrong_identity_is_named(site: Any, tmp_path: Path) -> None:
    """Verifying with an identity that is not a recipient says so, naming the snapshot."""
    repo, sid, _ = snapshot(site, ["python_service"])
    agecrypt.write_identity(tmp_path / "other.key")
    report = verify_snapshot(repo, sid, agecrypt.load_identity(tmp_path / "other.key"))
    assert [
        f"vault: snapshot {sid}: seal.age: the identity does not match any recipient (wrong key)"
    ] == report.problems
    arts = repo.stored_artifacts(
        sid, "python_service", agecrypt.load_identity(tmp_path / "other.key")
    )
    with pytest.raises(VaultError, match="wrong key"):
        restore_tars("python_service", arts, RestoreOptions(target=tmp_path / "t"))
    assert not (tmp_path / "t").exists()


def test_damaged_artifact_leaves_no_restored_target(site: Any, tmp_path: Path) -> None:
    """A restore of a damaged artifact fails naming it and writes nothing at the target."""
    repo, sid, folder = snapshot(site, ["laravel"])
    flip(folder / "artifacts/laravel/files.tar.zst.age", -100)
    arts = repo.stored_artifacts(sid, "laravel", site.identity())
    with pytest.raises(CorruptData, match=r"files\.tar\.zst"):
        restore_tars("laravel", arts, RestoreOptions(target=tmp_path / "t"))
    assert [] == [p.name for p in tmp_path.iterdir() if p.name.startswith((".t", "t"))]


def _evil_tar(entries: list[tarfile.TarInfo]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in entries:
            if info.isfile():
                tar.addfile(info, io.BytesIO(b"x" * info.size))
            else:
                tar.addfile(info)
    return zstandard.ZstdCompressor().compress(raw.getvalue())


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "entries",
    [
        [_entry("../escape.txt")],
        [_entry("/etc/escape.txt")],
        [_entry("a/../../escape.txt")],
        [_entry("link", tarfile.SYMTYPE, "/etc"), _entry("link/passwd")],
        [_entry("up", tarfile.SYMTYPE, "../.."), _entry("up/x")],
        [_entry("hard", tarfile.LNKTYPE, "../../etc/passwd")],
        [_entry("dev", tarfile.CHRTYPE)],
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "abs-symlink", "rel-symlink", "hardlink", "device"],
)
def test_restore_refuses_paths_that_escape_the_target(
    tmp_path: Path, entries: list[tarfile.TarInfo]
) -> None:
    """Archive entries that would land outside the target are refused, nothing is written."""
    from contextlib import contextmanager

    data = _evil_tar(entries)

    @contextmanager
    def opener() -> Any:
        yield io.BytesIO(data)

    art = StoredArtifact("x", "files.tar.zst", "files", "tar+zstd", len(data), "", {}, opener)
    target = tmp_path / "sub" / "target"
    with pytest.raises(CorruptData, match=r"refused|through a link"):
        restore_tars("x", [art], RestoreOptions(target=target))
    assert [] == sorted(p.name for p in (tmp_path / "sub").iterdir())
    assert not (tmp_path / "escape.txt").exists()
