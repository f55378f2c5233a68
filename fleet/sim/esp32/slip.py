"""SLIP framing as the ESP ROM loader uses it (0xC0 delimits, 0xDB escapes)."""

from __future__ import annotations

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD


def encode(packet: bytes) -> bytes:
    """One SLIP frame: delimiter, escaped packet, delimiter."""
    body = packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
    return b"\xc0" + body + b"\xc0"


def decode_body(body: bytes) -> bytes:
    """The packet inside one frame's escaped body."""
    if b"\xdb" not in body:
        return body
    # In an escaped stream 0xDB always starts an escape, so replacing DB DC first is safe.
    return body.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


class Decoder:
    """Incremental decoder: feed bytes, get the complete packets seen so far.

    Bytes outside a frame are ignored (the ROM does the same with line noise); an empty
    frame (two delimiters in a row) is treated as the start of the next one.
    """

    def __init__(self) -> None:
        self._buf: bytearray | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Consume `data`; return the packets it completed (may be empty)."""
        packets: list[bytes] = []
        pos = 0
        while True:
            idx = data.find(b"\xc0", pos)
            if self._buf is None:
                if idx < 0:
                    return packets
                self._buf = bytearray()
                pos = idx + 1
                continue
            if idx < 0:
                self._buf += data[pos:]
                return packets
            self._buf += data[pos:idx]
            pos = idx + 1
            if self._buf:
                packets.append(decode_body(bytes(self._buf)))
                self._buf = None
