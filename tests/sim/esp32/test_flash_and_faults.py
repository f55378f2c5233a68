"""NOR flash semantics and the fault injector, through the esptool API as the flasher uses it."""

from __future__ import annotations

import random
import socket
import zlib

import pytest
from esptool.cmds import detect_chip, write_flash
from esptool.util import FatalError
from serial import SerialException

from fleet.sim.esp32 import DevicePort, Faults, NorFlash, VirtualEsp32, serve_devices


def test_program_ands_and_erase_sets_ff() -> None:
    """Programming only clears bits (old & new); erasing a sector brings back 0xFF."""
    flash = NorFlash(0x10000)
    flash.program(0x1000, b"\xf0\x0f")
    flash.program(0x1000, b"\x3c\x3c")
    assert b"\x30\x0c" == flash.read(0x1000, 2)
    flash.erase(0x1001, 1)  # touches the whole sector
    assert b"\xff" * 0x1000 == flash.read(0x1000, 0x1000)


def _connect(url: str, stub: bool):  # type: ignore[no-untyped-def]
    esp = detect_chip(url, connect_mode="no-reset")
    return esp.run_stub() if stub else esp


@pytest.mark.parametrize("stub", [True, False], ids=["stub", "no-stub"])
def test_md5_matches_flash_contents(stub: bool) -> None:
    """SPI_FLASH_MD5 answers the MD5 of what is on flash, in the ROM's and the stub's format."""
    import hashlib

    device = VirtualEsp32("esp32", "24:0a:c4:00:00:10")
    data = bytes(range(256)) * 64
    device.flash.write(0x9000, data)
    with serve_devices([device]) as server:
        esp = _connect(server.urls[0], stub)
        try:
            assert hashlib.md5(data).hexdigest() == esp.flash_md5sum(0x9000, len(data))
        finally:
            esp._port.close()


def test_unplug_mid_write_then_replug_succeeds() -> None:
    """A cable pulled mid-write fails the write and vanishes the port; after replug it works."""
    data = random.Random(11).randbytes(256 * 1024)
    device = VirtualEsp32("esp32c3", "58:cf:79:00:00:11")
    device.faults = Faults(drop_after_bytes=60_000, replug_after=None)
    port = DevicePort(device).start()
    try:
        esp = _connect(port.url, stub=True)
        with pytest.raises((FatalError, SerialException, OSError)):
            write_flash(esp, [(0x10000, data)], no_compress=True)
        esp._port.close()
        assert port.wait_idle(5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port.port), timeout=2).close()
        assert data != device.flash.read(0x10000, len(data))
        port.plug()
        esp = _connect(port.url, stub=True)
        write_flash(esp, [(0x10000, data)], compress=True)
        esp._port.close()
        assert data == device.flash.read(0x10000, len(data))
        assert 1 == port.drops
    finally:
        port.stop()


def test_corrupted_write_fails_md5_verification() -> None:
    """A byte that lands wrong is caught by esptool's MD5 check after the write."""
    data = zlib.compress(b"hydro" * 10_000)[:20_000].ljust(20_000, b"\x00")
    device = VirtualEsp32("esp32", "24:0a:c4:00:00:12", faults=Faults(corrupt_write_at=0x10123))
    with serve_devices([device]) as server:
        esp = _connect(server.urls[0], stub=True)
        try:
            with pytest.raises(FatalError, match="MD5 of file does not match"):
                write_flash(esp, [(0x10000, data)])
            write_flash(esp, [(0x10000, data)])  # the fault fired once; a retry is clean
        finally:
            esp._port.close()
    assert data == device.flash.read(0x10000, len(data))


def test_second_connection_is_refused_while_busy() -> None:
    """Like a serial port, a board serves one host at a time; a second one is hung up on."""
    device = VirtualEsp32("esp32", "24:0a:c4:00:00:13")
    with serve_devices([device]) as server:
        esp = _connect(server.urls[0], stub=False)
        try:
            with pytest.raises((FatalError, SerialException)):
                detect_chip(server.urls[0], connect_mode="no-reset", connect_attempts=1)
            assert "24:0a:c4:00:00:13" == ":".join(f"{b:02x}" for b in esp.read_mac())
        finally:
            esp._port.close()
