"""Tar+zstd artifacts: streamed creation with per-file SHA-256, checked and safe extraction.

The archive is a POSIX (pax) tar compressed with zstd, readable by `zstd -dc | tar -x`.
Member names are relative paths. Extraction refuses every entry that would land outside
the target: absolute names, `..` components, links pointing out, writes through a link.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import zstandard

from fleet.errors import CorruptData, LayerError

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class TarItem:
    """A path to capture (`source`, absolute) and its name in the archive (`arcname`)."""

    source: Path
    arcname: str


class _HashingReader:
    """Reads from `inner`, hashing and counting."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.inner.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data


def _walk(item: TarItem, exclude: tuple[Path, ...]) -> Iterator[tuple[Path, str]]:
    root = item.source
    if any(root == ex or ex in root.parents for ex in exclude):
        return
    yield root, item.arcname
    if root.is_dir() and not root.is_symlink():
        for name in sorted(os.listdir(root)):
            yield from _walk(TarItem(root / name, f"{item.arcname}/{name}"), exclude)


def _mode(st_mode: int) -> str:
    return format(stat.S_IMODE(st_mode), "04o")


def write_tar(
    sink: BinaryIO,
    items: Iterable[TarItem],
    layer: str,
    level: int = 3,
    exclude: tuple[Path, ...] = (),
    on_bytes: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write `items` (directories recursively) as tar+zstd to `sink`; return manifest meta.

    Meta: `{"files": [{"path","type","size","sha256"?, "mode","uid","gid","target"?}],
    "skipped": [...]}`. A file that changes size or mtime while read raises `LayerError`
    naming it. Sockets and devices are skipped and listed.
    """
    files: list[dict[str, Any]] = []
    skipped: list[str] = []
    cctx = zstandard.ZstdCompressor(level=level)  # threads: slower on small boxes
    with (
        cctx.stream_writer(sink, closefd=False) as zw,
        tarfile.open(fileobj=zw, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.copybufsize = CHUNK  # type: ignore[attr-defined]  # 16 KiB by default
        for item in items:
            for path, arcname in _walk(item, exclude):
                files.extend(_add(tar, path, arcname, layer, skipped, on_bytes))
    return {"files": files, "skipped": skipped}


def _add(
    tar: tarfile.TarFile,
    path: Path,
    arcname: str,
    layer: str,
    skipped: list[str],
    on_bytes: Callable[[int], None] | None,
) -> list[dict[str, Any]]:
    try:
        info = tar.gettarinfo(str(path), arcname)
    except OSError as exc:
        raise LayerError(layer, f"cannot read {path}: {exc.strerror}", path=path) from exc
    if info is None or not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
        skipped.append(arcname)
        return []
    rec: dict[str, Any] = {
        "path": arcname,
        "type": "file"
        if info.isfile()
        else "dir"
        if info.isdir()
        else "symlink"
        if info.issym()
        else "hardlink",
        "mode": format(info.mode, "04o"),
        "uid": info.uid,
        "gid": info.gid,
    }
    if info.issym() or info.islnk():
        rec["target"] = info.linkname
        tar.addfile(info)
        return [rec]
    if not info.isfile():
        tar.addfile(info)
        return [rec]
    try:
        with open(path, "rb") as fh:
            before = os.fstat(fh.fileno())
            reader = _HashingReader(fh)
            tar.addfile(info, reader)
            after = os.stat(path)
    except OSError as exc:
        raise LayerError(
            layer, f"{path} changed or vanished while read ({exc})", path=path
        ) from exc
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or (
        reader.size != info.size
    ):
        raise LayerError(layer, f"{path} changed while being read; run again", path=path)
    if on_bytes is not None:
        on_bytes(info.size)
    rec["size"] = info.size
    rec["sha256"] = reader.hash.hexdigest()
    return [rec]


def _safe_name(name: str, what: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or name.startswith("/"):
        raise CorruptData(f"{what}: entry {name!r} would escape the target; refused", entry=name)
    return p


def _check_link(member: tarfile.TarInfo, what: str) -> None:
    target = member.linkname
    if member.issym():
        if target.startswith("/"):
            raise CorruptData(
                f"{what}: symlink {member.name!r} points to absolute {target!r}; refused"
            )
        resolved = os.path.normpath(os.path.join(os.path.dirname(member.name), target))
    else:
        resolved = os.path.normpath(target)
    if resolved == ".." or resolved.startswith("../") or os.path.isabs(resolved):
        raise CorruptData(f"{what}: link {member.name!r} points outside the target; refused")


def _no_link_parent(root: Path, rel: PurePosixPath, what: str) -> None:
    cur = root
    for part in rel.parts[:-1]:
        cur = cur / part
        if cur.is_symlink():
            raise CorruptData(f"{what}: entry {str(rel)!r} would be written through a link")


def read_tar(
    reader: BinaryIO,
    what: str,
    expected: list[dict[str, Any]] | None = None,
    target: Path | None = None,
) -> int:
    """Read a tar+zstd stream; check it, and extract it into `target` when given.

    Every entry is checked for escape (always, also without a target). When `expected` (the
    manifest's file list) is given, every regular file's SHA-256 must match and every
    expected path must be present; a mismatch raises `CorruptData` naming the entry.
    Owners are kept when running as root; modes and mtimes always. Returns the entry count.
    """
    want = {f["path"]: f for f in expected} if expected is not None else None
    seen: set[str] = set()
    dirs: list[tuple[tarfile.TarInfo, Path]] = []
    dctx = zstandard.ZstdDecompressor()
    count = 0
    try:
        with (
            dctx.stream_reader(reader, closefd=False) as zr,
            tarfile.open(fileobj=zr, mode="r|") as tar,
        ):
            for member in tar:
                count += 1
                rel = _safe_name(member.name, what)
                seen.add(member.name)
                if member.issym() or member.islnk():
                    _check_link(member, what)
                elif not (member.isfile() or member.isdir()):
                    raise CorruptData(
                        f"{what}: entry {member.name!r} has an unsupported type; refused"
                    )
                dest = None
                if target is not None:
                    _no_link_parent(target, rel, what)
                    dest = target / rel
                _one(tar, member, dest, target, what, want, dirs)
    except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
        raise CorruptData(f"{what}: not a readable tar+zstd stream ({exc})") from exc
    if want is not None:
        missing = sorted(set(want) - seen)
        if missing:
            raise CorruptData(f"{what}: entries missing from the archive: {missing[:5]}")
    for member, dest in reversed(dirs):
        _attrs(tar, member, dest)
    return count


def _one(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    dest: Path | None,
    root: Path | None,
    what: str,
    want: dict[str, dict[str, Any]] | None,
    dirs: list[tuple[tarfile.TarInfo, Path]],
) -> None:
    if member.isdir():
        if dest is not None:
            dest.mkdir(parents=True, exist_ok=True)
            dirs.append((member, dest))
        return
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
    if member.issym():
        if dest is not None:
            os.symlink(member.linkname, dest)
            _attrs(tar, member, dest)
        return
    if member.islnk():
        if dest is not None and root is not None:
            os.link(root / member.linkname, dest)
        return
    src = tar.extractfile(member)
    assert src is not None
    digest = hashlib.sha256()
    out = None
    if dest is not None:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        out = os.fdopen(fd, "wb")
    try:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    if want is not None:
        rec = want.get(member.name)
        if rec is None or rec.get("sha256") != digest.hexdigest():
            raise CorruptData(f"{what}: file {member.name!r} does not match its SHA-256")
    if dest is not None:
        _attrs(tar, member, dest)


def _attrs(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    if os.geteuid() == 0:
        tar.chown(member, str(dest), numeric_owner=True)
    if not member.issym():
        tar.chmod(member, str(dest))
        tar.utime(member, str(dest))
