"""Physical base backup (`pg_basebackup`, tar to stdout, zstd) for point-in-time recovery.

A logical dump cannot be replayed with WAL; PITR starts from a base backup and replays the
archive. The artifact is `base.tar.zst`: the cluster's data folder as one tar (with the WAL
needed to make it consistent, `-X fetch`), compressed; the manifest records the backup
label, start/stop LSN, timeline and the server's system identifier (which ties it to WAL).
Stock restore: `age -d -i ID base.tar.zst.age | zstd -dc | tar -x -C DATADIR`.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import IO, Any

import zstandard

from fleet.backup.postgres.dump import CHUNK, LAYER, redacted, tool_env
from fleet.backup.postgres.lsn import format_lsn, parse_lsn
from fleet.errors import LayerError

_HEAD_BYTES = 256 * 1024  # backup_label is the first member of base.tar


def parse_backup_label(text: str) -> dict[str, Any]:
    """The fields of a `backup_label` file: start LSN and WAL file, timeline, label, time."""
    out: dict[str, Any] = {}
    match = re.search(r"START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+) \(file ([0-9A-F]{24})\)", text)
    if match:
        out["start_lsn"] = match.group(1)
        out["start_wal_file"] = match.group(2)
    for key, field in (
        ("CHECKPOINT LOCATION", "checkpoint_lsn"),
        ("START TIME", "start_time"),
        ("LABEL", "label"),
        ("START TIMELINE", "timeline"),
    ):
        found = re.search(rf"^{key}: (.+)$", text, re.MULTILINE)
        if found:
            out[field] = found.group(1).strip()
    if "timeline" in out:
        out["timeline"] = int(out["timeline"])
    return out


class _HeadTap:
    """Passes writes through and keeps the first bytes (to read backup_label from)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.head = bytearray()

    def write(self, data: bytes) -> int:
        if len(self.head) < _HEAD_BYTES:
            self.head.extend(data[: _HEAD_BYTES - len(self.head)])
        return self.inner.write(data)


def _label_from_head(head: bytes) -> str:
    try:
        with tarfile.open(fileobj=io.BytesIO(head), mode="r|") as tar:
            for member in tar:
                if member.name == "backup_label":
                    fh = tar.extractfile(member)
                    return fh.read().decode() if fh else ""
    except tarfile.TarError:
        pass  # the head ends mid-member; backup_label came before that
    return ""


def base_backup(
    pg_basebackup: Path, dsn: str, sink: IO[bytes], label: str, level: int = 3
) -> dict[str, Any]:
    """Stream a tar-format base backup of the cluster at `dsn`, zstd-compressed, into `sink`.

    Returns the manifest facts: backup label text and fields, start/stop LSN, timeline.
    Raises LayerError with pg_basebackup's message when it fails (e.g. no replication
    permission, wal_level minimal, extra tablespaces which cannot go to one stream).
    """
    plain, env = tool_env(dsn)
    argv = [
        str(pg_basebackup),
        "-d",
        plain,
        "-D",
        "-",
        "-F",
        "tar",
        "-X",
        "fetch",
        "--checkpoint=fast",
        "--no-password",
        "--verbose",
        "-l",
        label,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    errors: list[bytes] = []
    stderr = proc.stderr
    drain = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
    drain.start()
    compressor = zstandard.ZstdCompressor(level=level, threads=-1)
    try:
        with compressor.stream_writer(sink, closefd=False) as zout:
            tap = _HeadTap(zout)
            while chunk := proc.stdout.read(CHUNK):
                tap.write(chunk)
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        rc = proc.wait()
        drain.join()
    log = b"".join(errors).decode(errors="replace")
    if rc != 0:
        tail = " | ".join(log.strip().splitlines()[-3:])
        raise LayerError(LAYER, f"pg_basebackup of {redacted(dsn)} failed (exit {rc}): {tail}")
    text = _label_from_head(bytes(tap.head))
    meta: dict[str, Any] = {"backup_label": text, **parse_backup_label(text)}
    stop = re.search(r"write-ahead log end point: ([0-9A-F]+/[0-9A-F]+)", log)
    if stop:
        meta["stop_lsn"] = format_lsn(parse_lsn(stop.group(1)))
    if "start_lsn" not in meta or "stop_lsn" not in meta:
        raise LayerError(LAYER, "pg_basebackup finished but its start/stop LSN were not found")
    return meta
