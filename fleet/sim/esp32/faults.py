"""Faults a virtual ESP32 can be told to show: unplug mid-transfer, bad writes, slowness."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What goes wrong, and when. Every fault fires once, then clears itself.

    - `drop_after_bytes`: after this many bytes from the host (counted from when the
      fault was set, across connections), the connection drops and the port vanishes as
      if the cable was pulled; it comes back after `replug_after` seconds (None: only
      when `DevicePort.plug()` is called).
    - `corrupt_write_at`: the next time a flash write covers this address, the byte
      written there has its lowest bit flipped (so MD5 verification fails).
    - `response_delay`: seconds added before every reply (a slow, sick board). This
      one stays until cleared.
    """

    drop_after_bytes: int | None = None
    replug_after: float | None = 1.0
    corrupt_write_at: int | None = None
    response_delay: float = 0.0
    _received: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_received(self, n: int) -> bool:
        """Account `n` host bytes; True when the connection must drop now."""
        with self._lock:
            if self.drop_after_bytes is None:
                return False
            self._received += n
            if self._received >= self.drop_after_bytes:
                self.drop_after_bytes = None
                self._received = 0
                return True
            return False

    def corrupt(self, addr: int, data: bytes) -> bytes:
        """`data` as it lands at `addr`, with the armed corruption applied (once)."""
        with self._lock:
            target = self.corrupt_write_at
            if target is None or not addr <= target < addr + len(data):
                return data
            self.corrupt_write_at = None
        out = bytearray(data)
        out[target - addr] ^= 0x01
        return bytes(out)
