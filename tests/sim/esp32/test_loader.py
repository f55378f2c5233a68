"""The loader protocol at packet level: reply formats of the ROM and of the stub, refusals."""

from __future__ import annotations

import hashlib
import struct

from fleet.sim.esp32 import VirtualEsp32
from fleet.sim.esp32.loader import LoaderSession, stub_entries
from fleet.sim.esp32.opcodes import MEM_DATA, MEM_END, SPI_FLASH_MD5, SYNC, checksum


def _session() -> tuple[LoaderSession, list[bytes]]:
    sent: list[bytes] = []
    device = VirtualEsp32("esp32", "24:0a:c4:00:40:01")
    device.flash.write(0x1000, b"hydro")
    return LoaderSession(device, sent.append, lambda: None), sent


def _request(op: int, data: bytes = b"", chk: int = 0) -> bytes:
    return struct.pack("<BBHI", 0, op, len(data), chk) + data


def test_rom_md5_is_hex_text_and_stub_md5_is_raw() -> None:
    """The ROM answers MD5 as 32 hex characters + 4 status bytes; the stub as 16 bytes + 2."""
    session, sent = _session()
    md5_request = _request(SPI_FLASH_MD5, struct.pack("<IIII", 0x1000, 5, 0, 0))
    session.handle(md5_request)
    digest = hashlib.md5(b"hydro").digest()
    assert digest.hex().encode() + b"\0\0\0\0" == sent[-1][8:]
    entry = min(stub_entries("esp32"))
    session.handle(_request(MEM_END, struct.pack("<II", 0, entry)))
    assert b"OHAI" == sent[-1]
    session.handle(md5_request)
    assert digest + b"\0\0" == sent[-1][8:]


def test_bad_checksum_and_unknown_command_are_refused() -> None:
    """A data block with a wrong checksum answers error 0x07; an unknown opcode 0x05."""
    session, sent = _session()
    block = b"\x01\x02\x03"
    header = struct.pack("<IIII", len(block), 0, 0, 0)
    session.handle(_request(MEM_DATA, header + block, checksum(block) ^ 0xFF))
    assert (MEM_DATA, b"\x01\x07\0\0") == (sent[-1][1], sent[-1][8:])
    session.handle(_request(0x7E))
    assert (0x7E, b"\x01\x05\0\0") == (sent[-1][1], sent[-1][8:])


def test_rom_answers_sync_eight_times() -> None:
    """The ROM answers one SYNC eight times with a non-zero value (esptool reads them all)."""
    session, sent = _session()
    session.handle(_request(SYNC, b"\x07\x07\x12\x20" + b"\x55" * 32))
    values = [struct.unpack("<I", p[4:8])[0] for p in sent]
    assert 8 == len(values)
    assert all(v != 0 for v in values)
