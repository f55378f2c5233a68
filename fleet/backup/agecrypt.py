"""age encryption for the repository: keys, and streaming encrypt/decrypt with hashing.

Everything streams through OS pipes in bounded chunks: pyrage pulls from a reader, so the
producer (tar, zstd, pg_dump) runs in a worker thread writing into a pipe. Plaintext never
touches the disk.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import pyrage
from pyrage import x25519

from fleet.errors import ConfigError, CorruptData, FleetError, VaultError

CHUNK = 1024 * 1024
T = TypeVar("T")


class HashingWriter:
    """A write-only stream that counts and SHA-256-hashes what passes to `inner` (if any)."""

    def __init__(self, inner: BinaryIO | None = None) -> None:
        self.inner = inner
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Hash `data`, pass it on, return its length."""
        view = memoryview(data)
        self._hash.update(view)
        self.size += view.nbytes
        if self.inner is not None:
            self.inner.write(view)
        return view.nbytes

    def flush(self) -> None:
        """Flush the inner stream."""
        if self.inner is not None:
            self.inner.flush()

    def writable(self) -> bool:
        """Always true."""
        return True

    def hexdigest(self) -> str:
        """SHA-256 of everything written so far, lowercase hex."""
        return self._hash.hexdigest()


def parse_recipients(keys: list[str]) -> list[x25519.Recipient]:
    """age X25519 recipients from `age1...` strings; ConfigError naming a bad entry."""
    if not keys:
        raise ConfigError(
            "backup.recipients is empty: add the age1... key `fleet backup keygen` printed"
        )
    out = []
    for i, key in enumerate(keys):
        try:
            out.append(x25519.Recipient.from_str(key.strip()))
        except Exception as exc:
            raise ConfigError(f"backup.recipients[{i}] is not an age X25519 public key") from exc
    return out


def load_identity(path: Path) -> x25519.Identity:
    """The first `AGE-SECRET-KEY-` line of an identity file; VaultError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VaultError(f"cannot read identity file {path}: {exc.strerror}", path=path) from exc
    for line in text.splitlines():
        if line.strip().startswith("AGE-SECRET-KEY-"):
            try:
                return x25519.Identity.from_str(line.strip())
            except Exception as exc:
                raise VaultError(f"identity file {path} holds an invalid age key") from exc
    raise VaultError(f"identity file {path} holds no AGE-SECRET-KEY line", path=path)


def write_identity(path: Path) -> str:
    """Create a new identity file (mode 0600, refuses to overwrite); return its recipient."""
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"identity file {path} already exists; not overwritten") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# created by fleet backup keygen\n# public key: {recipient}\n{identity}\n")
        fh.flush()
        os.fsync(fh.fileno())
    return recipient


def _run_producer(produce: Callable[[BinaryIO], T], write_fd: int, box: dict[str, Any]) -> None:
    try:
        with os.fdopen(write_fd, "wb", buffering=CHUNK) as pipe:
            box["result"] = produce(pipe)
    except BrokenPipeError as exc:
        box.setdefault("error", exc)
    except BaseException as exc:  # handed to the caller's thread
        box["error"] = exc


def encrypt_stream(
    produce: Callable[[BinaryIO], T],
    recipients: list[x25519.Recipient],
    out: BinaryIO,
) -> tuple[T, HashingWriter, HashingWriter]:
    """Encrypt what `produce(sink)` writes to `out`; return its result and both hashers.

    Returns `(result, plain, cipher)`: `plain` saw the plaintext, `cipher` the age file.
    An exception raised by `produce` is re-raised here unchanged.
    """
    read_fd, write_fd = os.pipe()
    plain = HashingWriter()
    box: dict[str, Any] = {}

    def tee(sink: BinaryIO) -> T:
        tap = _Tee(sink, plain)
        return produce(cast(BinaryIO, tap))

    worker = threading.Thread(target=_run_producer, args=(tee, write_fd, box), daemon=True)
    cipher = HashingWriter(out)
    worker.start()
    try:
        with os.fdopen(read_fd, "rb", buffering=CHUNK) as reader:
            try:
                pyrage.encrypt_io(reader, cipher, recipients)
            except Exception as exc:
                if "error" in box:
                    raise box["error"] from None
                raise FleetError(f"age encryption failed: {exc}") from exc
    finally:
        worker.join()
    if "error" in box:
        raise box["error"]
    return cast(T, box.get("result")), plain, cipher


class _Tee:
    """Writes to `sink` and to a hasher."""

    def __init__(self, sink: BinaryIO, hasher: HashingWriter) -> None:
        self.sink = sink
        self.hasher = hasher

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.hasher.write(data)
        return self.sink.write(data)

    def flush(self) -> None:
        self.sink.flush()

    def writable(self) -> bool:
        return True


@contextmanager
def decrypt_stream(
    source: BinaryIO, identity: x25519.Identity, what: str
) -> Iterator[tuple[BinaryIO, HashingWriter]]:
    """Yield `(reader, hasher)`: the decrypted plaintext of `source` as a stream.

    `hasher` has seen every byte once the reader hit EOF. A wrong identity or damaged
    ciphertext raises `CorruptData` naming `what` (when the reader is drained or closed).
    """
    read_fd, write_fd = os.pipe()
    plain = HashingWriter()
    box: dict[str, Any] = {}

    def produce(sink: BinaryIO) -> None:
        pyrage.decrypt_io(source, _Tee(sink, plain), [identity])

    worker = threading.Thread(target=_run_producer, args=(produce, write_fd, box), daemon=True)
    worker.start()
    reader = os.fdopen(read_fd, "rb", buffering=CHUNK)
    try:
        yield reader, plain
    except BaseException as exc:
        reader.close()
        worker.join()
        err = box.get("error")
        if err is not None and not _is_broken_pipe(err):
            # the stream ended early because decryption failed: that is the cause to report
            raise _decrypt_error(err, what) from exc
        raise
    while reader.read(CHUNK):  # drain so the worker can finish
        pass
    reader.close()
    worker.join()
    err = box.get("error")
    if err is not None:
        raise _decrypt_error(err, what)


def _is_broken_pipe(err: BaseException) -> bool:
    return isinstance(err, BrokenPipeError) or "broken pipe" in str(err).lower()


def _decrypt_error(err: BaseException, what: str) -> FleetError:
    text = str(err)
    if "No matching keys" in text or "no identity matched" in text.lower():
        return VaultError(f"{what}: the identity does not match any recipient (wrong key)")
    return CorruptData(f"{what}: cannot be decrypted ({text or type(err).__name__})")


def encrypt_bytes(data: bytes, recipients: list[x25519.Recipient]) -> bytes:
    """age-encrypt a small in-memory value (seals, keys)."""
    return bytes(pyrage.encrypt(data, recipients))


def decrypt_bytes(data: bytes, identity: x25519.Identity, what: str) -> bytes:
    """Decrypt a small age value; `VaultError` for a wrong identity, else `CorruptData`."""
    try:
        return bytes(pyrage.decrypt(data, [identity]))
    except Exception as exc:
        raise _decrypt_error(exc, what) from exc
