"""A NOR flash chip in memory: erase sets bits to 1, programming can only clear them.

Stored sparsely, one 4 KiB sector per dict entry; a missing sector reads as erased
(0xFF), so a 16 MB part costs memory only for what was written.
"""

from __future__ import annotations

import hashlib
import threading

from fleet.errors import DeviceError

SECTOR = 0x1000
_ERASED = b"\xff" * SECTOR


class NorFlash:
    """`size` bytes of NOR flash; thread-safe."""

    def __init__(self, size: int) -> None:
        if size <= 0 or size % SECTOR:
            raise ValueError(f"flash size {size} is not a multiple of {SECTOR}")
        self.size = size
        self._sectors: dict[int, bytearray] = {}
        self._lock = threading.Lock()

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise DeviceError(
                f"flash access {offset:#x}+{length:#x} beyond the {self.size:#x}-byte chip",
                port="flash",
            )

    def erase(self, offset: int, length: int) -> None:
        """Erase every sector that `[offset, offset+length)` touches (to 0xFF)."""
        if length == 0:
            return
        start = offset - offset % SECTOR
        end = -(-(offset + length) // SECTOR) * SECTOR
        self._check(start, end - start)
        with self._lock:
            for sector in range(start // SECTOR, end // SECTOR):
                self._sectors.pop(sector, None)

    def erase_all(self) -> None:
        """Erase the whole chip."""
        with self._lock:
            self._sectors.clear()

    def program(self, offset: int, data: bytes) -> None:
        """Program `data` at `offset`: each byte becomes `old & new` (NOR semantics)."""
        self._check(offset, len(data))
        with self._lock:
            pos = 0
            while pos < len(data):
                addr = offset + pos
                sector, within = divmod(addr, SECTOR)
                n = min(SECTOR - within, len(data) - pos)
                chunk = data[pos : pos + n]
                current = self._sectors.get(sector)
                if current is None:
                    if chunk.count(0xFF) == n:
                        pos += n
                        continue
                    current = bytearray(_ERASED)
                    self._sectors[sector] = current
                old = int.from_bytes(current[within : within + n], "little")
                new = int.from_bytes(chunk, "little")
                current[within : within + n] = (old & new).to_bytes(n, "little")
                pos += n

    def write(self, offset: int, data: bytes) -> None:
        """Erase the touched sectors, then program `data` (a test/seeding shortcut)."""
        self.erase(offset, len(data))
        self.program(offset, data)

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes from `offset`."""
        self._check(offset, length)
        out = bytearray()
        with self._lock:
            pos = offset
            end = offset + length
            while pos < end:
                sector, within = divmod(pos, SECTOR)
                n = min(SECTOR - within, end - pos)
                current = self._sectors.get(sector)
                out += _ERASED[:n] if current is None else current[within : within + n]
                pos += n
        return bytes(out)

    def md5(self, offset: int, length: int) -> bytes:
        """The MD5 digest of `length` bytes from `offset` (what SPI_FLASH_MD5 answers)."""
        self._check(offset, length)
        digest = hashlib.md5()
        pos = offset
        end = offset + length
        while pos < end:
            n = min(0x10000 - pos % 0x10000, end - pos)
            digest.update(self.read(pos, n))
            pos += n
        return digest.digest()

    def used_sectors(self) -> int:
        """How many sectors hold anything but 0xFF (roughly: were written)."""
        with self._lock:
            return len(self._sectors)
