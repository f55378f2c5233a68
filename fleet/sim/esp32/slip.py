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


class Decoder:
    """Incremental decoder: feed bytes, get the complete packets seen so far.

    Bytes outside a frame are ignored (the ROM does the same with line noise); a bad
    escape drops the frame being read.
    """

    def __init__(self) -> None:
        self._buf: bytearray | None = None
        self._escape = False

    def feed(self, data: bytes) -> list[bytes]:
        """Consume `data`; return the packets it completed (may be empty)."""
        packets: list[bytes] = []
        for byte in data:
            if self._buf is None:
                if byte == END:
                    self._buf = bytearray()
                continue
            if self._escape:
                self._escape = False
                if byte == ESC_END:
                    self._buf.append(END)
                elif byte == ESC_ESC:
                    self._buf.append(ESC)
                else:
                    self._buf = None
                continue
            if byte == ESC:
                self._escape = True
            elif byte == END:
                if self._buf:
                    packets.append(bytes(self._buf))
                    self._buf = None
                # an empty frame is just back-to-back delimiters: stay in-frame
            else:
                self._buf.append(byte)
        return packets
