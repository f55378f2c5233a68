"""The serial download protocol of the ESP ROM loader and of esptool's flasher stub.

One `LoaderSession` per connection. It answers each request packet the way the chip
does: ROM replies carry 4 status bytes and return MD5 as 32 hex characters; once the
flasher stub has been uploaded (MEM_BEGIN/MEM_DATA/MEM_END with the stub's entry point)
the session greets with ``OHAI`` and answers as the stub (2 status bytes, raw MD5,
streamed READ_FLASH with acks, erase-as-you-write). Request layout, as esptool sends it:
``<BBHI`` direction 0, opcode, data length, checksum; then the data.
"""

from __future__ import annotations

import functools
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fleet.sim.esp32.flash import SECTOR
from fleet.sim.esp32.opcodes import (
    CHANGE_BAUDRATE,
    ERASE_FLASH,
    ERASE_REGION,
    FLASH_BEGIN,
    FLASH_DATA,
    FLASH_DEFL_BEGIN,
    FLASH_DEFL_DATA,
    FLASH_DEFL_END,
    FLASH_END,
    GET_SECURITY_INFO,
    MEM_BEGIN,
    MEM_DATA,
    MEM_END,
    READ_FLASH,
    READ_FLASH_SLOW,
    READ_REG,
    ROM_BAD_CRC,
    ROM_DEFLATE,
    ROM_FAILED,
    ROM_INVALID_MSG,
    ROM_SYNC_VALUE,
    RUN_USER_CODE,
    SFDP_SIGNATURE,
    SPI_ATTACH,
    SPI_CMD_USR,
    SPI_FLASH_MD5,
    SPI_SET_PARAMS,
    STUB_BAD_CHECKSUM,
    STUB_INFLATE,
    STUB_INVALID_COMMAND,
    STUB_NOT_IN_FLASH_MODE,
    STUB_TOO_MUCH_DATA,
    SYNC,
    WRITE_REG,
    checksum,
)

if TYPE_CHECKING:
    from fleet.sim.esp32.device import VirtualEsp32


@functools.cache
def stub_entries(chip: str) -> frozenset[int]:
    """Entry points of the flasher stubs the installed esptool would upload for `chip`."""
    import esptool

    root = Path(esptool.__file__).parent / "targets" / "stub_flasher"
    entries = set()
    for path in root.glob(f"*/{chip}.json"):
        entries.add(int(json.loads(path.read_text())["entry"]))
    return frozenset(entries)


class CommandError(Exception):
    """A request the chip refuses; `code` is the second status byte."""

    def __init__(self, code: int) -> None:
        super().__init__(f"error {code:#04x}")
        self.code = code


class _WriteState:
    """An open FLASH_BEGIN / FLASH_DEFL_BEGIN session."""

    def __init__(self, offset: int, size: int, compressed: bool, lazy_erase: bool) -> None:
        self.offset = offset
        self.size = size  # bytes to erase / expected uncompressed bytes
        self.compressed = compressed
        self.lazy_erase = lazy_erase
        self.written = 0
        self.next_seq = 0
        self.erased_until = offset - offset % SECTOR
        self.inflater = zlib.decompressobj() if compressed else None


class LoaderSession:
    """Answers one connection's requests for `device`.

    `send(packet)` writes one (unframed) packet to the host; `recv()` returns the next
    request packet or None when the host went away (used by READ_FLASH acks).
    """

    def __init__(
        self,
        device: VirtualEsp32,
        send: Callable[[bytes], None],
        recv: Callable[[], bytes | None],
    ) -> None:
        self.device = device
        self.send = send
        self.recv = recv
        self.stub = False
        self.halted = False  # ran user code: the loader no longer answers
        self._ram: dict[int, bytes] = {}
        self._ram_target = (0, 0)
        self._write: _WriteState | None = None

    # --- replies ---------------------------------------------------------------------

    def _reply(self, op: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error])
        if not self.stub:
            status += b"\x00\x00"
        body = data + status
        self.send(struct.pack("<BBHI", 1, op, len(body), value) + body)

    def handle(self, packet: bytes) -> None:
        """Answer one request packet (nothing is sent for malformed or stray packets)."""
        if self.halted or len(packet) < 8 or packet[0] != 0:
            return
        _, op, length, chk = struct.unpack("<BBHI", packet[:8])
        data = packet[8 : 8 + length]
        self.device.note_command(op)
        try:
            self._dispatch(op, data, chk)
        except CommandError as exc:
            self._reply(op, error=exc.code)

    def _dispatch(self, op: int, data: bytes, chk: int) -> None:
        handler = _HANDLERS.get(op)
        stub_only = op >= ERASE_FLASH
        rom_only = op == READ_FLASH_SLOW
        if handler is None or (stub_only and not self.stub) or (rom_only and self.stub):
            raise CommandError(STUB_INVALID_COMMAND if self.stub else ROM_INVALID_MSG)
        handler(self, data, chk)

    def _invalid(self) -> CommandError:
        return CommandError(STUB_INVALID_COMMAND if self.stub else ROM_INVALID_MSG)

    # --- basic commands --------------------------------------------------------------

    def _sync(self, data: bytes, chk: int) -> None:
        if data[:4] != b"\x07\x07\x12\x20":
            raise self._invalid()
        value = 0 if self.stub else ROM_SYNC_VALUE
        for _ in range(1 if self.stub else 8):  # the ROM answers a SYNC eight times
            self._reply(SYNC, value)

    def _read_reg(self, data: bytes, chk: int) -> None:
        (addr,) = struct.unpack("<I", data[:4])
        self._reply(READ_REG, self.device.read_register(addr))

    def _write_reg(self, data: bytes, chk: int) -> None:
        for pos in range(0, len(data) - 15, 16):
            addr, value, mask, _delay = struct.unpack("<IIII", data[pos : pos + 16])
            self._store_register(addr, value, mask)
        self._reply(WRITE_REG)

    def _store_register(self, addr: int, value: int, mask: int) -> None:
        dev = self.device
        old = dev.read_register(addr)
        dev.registers[addr] = (old & ~mask) | (value & mask)
        chip = dev.chip
        if addr == chip.spi_base and value & SPI_CMD_USR:
            self._run_spi_command()
            dev.registers[addr] = 0  # the "user command" bit clears when done

    def _run_spi_command(self) -> None:
        """Execute the SPI flash command esptool set up in the SPI0 registers."""
        dev = self.device
        chip = dev.chip
        command = dev.read_register(chip.spi_base + chip.spi_usr2) & 0xFF
        addr_reg = dev.read_register(chip.spi_base + 0x04)
        addr = addr_reg >> 8 if chip.spi_addr_msb else addr_reg
        result = 0
        if command == 0x9F:  # RDID
            result = chip.flash_id(dev.flash.size)
        elif command == 0x5A:  # RDSFDP
            result = SFDP_SIGNATURE if addr == 0 else 0xEF  # vendor byte: Winbond
        dev.registers[chip.spi_base + chip.spi_w0] = result

    def _spi_set_params(self, data: bytes, chk: int) -> None:
        if len(data) < 24:
            raise self._invalid()
        self._reply(SPI_SET_PARAMS)

    def _spi_attach(self, data: bytes, chk: int) -> None:
        self._reply(SPI_ATTACH)

    def _change_baud(self, data: bytes, chk: int) -> None:
        (baud,) = struct.unpack("<I", data[:4])
        self._reply(CHANGE_BAUDRATE)
        self.device.negotiated_baud = baud

    def _security_info(self, data: bytes, chk: int) -> None:
        chip = self.device.chip
        if not chip.has_security_info:
            raise self._invalid()
        info = struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, chip.image_chip_id, 0)
        self._reply(GET_SECURITY_INFO, data=info)

    # --- RAM download: how the stub gets in ------------------------------------------

    def _mem_begin(self, data: bytes, chk: int) -> None:
        size, _blocks, _blocksize, offset = struct.unpack("<IIII", data[:16])
        self._ram_target = (offset, size)
        self._ram[offset] = b""
        self._reply(MEM_BEGIN)

    def _mem_data(self, data: bytes, chk: int) -> None:
        size, _seq, _, _ = struct.unpack("<IIII", data[:16])
        block = data[16 : 16 + size]
        if len(block) != size or checksum(block) != chk & 0xFF:
            raise CommandError(STUB_BAD_CHECKSUM if self.stub else ROM_BAD_CRC)
        offset, _ = self._ram_target
        self._ram[offset] += block
        self._reply(MEM_DATA)

    def _mem_end(self, data: bytes, chk: int) -> None:
        no_entry, entry = struct.unpack("<II", data[:8])
        self._reply(MEM_END)
        if no_entry:
            return
        if entry in stub_entries(self.device.chip.name) and not self.stub:
            self.stub = True
            self.device.stub_running = True
            self.send(b"OHAI")
        else:
            self.halted = True  # it jumped into code we cannot run

    # --- flash writes ----------------------------------------------------------------

    def _flash_begin(self, data: bytes, chk: int, compressed: bool = False) -> None:
        size, _blocks, _blocksize, offset = struct.unpack("<IIII", data[:16])
        op = FLASH_DEFL_BEGIN if compressed else FLASH_BEGIN
        if offset + size > self.device.flash.size:
            raise CommandError(STUB_TOO_MUCH_DATA if self.stub else ROM_FAILED)
        state = _WriteState(offset, size, compressed, lazy_erase=self.stub)
        if not self.stub:  # the ROM erases the whole region up front
            self.device.flash.erase(offset, size)
            state.erased_until = offset + size
        self._write = state
        self._reply(op)

    def _flash_defl_begin(self, data: bytes, chk: int) -> None:
        self._flash_begin(data, chk, compressed=True)

    def _flash_data(self, data: bytes, chk: int, compressed: bool = False) -> None:
        op = FLASH_DEFL_DATA if compressed else FLASH_DATA
        state = self._write
        if state is None or state.compressed != compressed:
            raise CommandError(STUB_NOT_IN_FLASH_MODE if self.stub else ROM_FAILED)
        size, seq, _, _ = struct.unpack("<IIII", data[:16])
        block = data[16 : 16 + size]
        if len(block) != size or checksum(block) != chk & 0xFF:
            raise CommandError(STUB_BAD_CHECKSUM if self.stub else ROM_BAD_CRC)
        if seq < state.next_seq:  # a retried block: already written, acknowledge again
            self._reply(op)
            return
        if seq > state.next_seq:  # a block went missing: the write cannot continue
            raise CommandError(STUB_BAD_CHECKSUM if self.stub else ROM_FAILED)
        if state.inflater is not None:
            try:
                plain = state.inflater.decompress(block)
            except zlib.error:
                raise CommandError(STUB_INFLATE if self.stub else ROM_DEFLATE) from None
        else:
            plain = block
        self._program(state, plain)
        state.next_seq += 1
        self._reply(op)

    def _flash_defl_data(self, data: bytes, chk: int) -> None:
        self._flash_data(data, chk, compressed=True)

    def _program(self, state: _WriteState, plain: bytes) -> None:
        flash = self.device.flash
        addr = state.offset + state.written
        if addr + len(plain) > flash.size:
            plain = plain[: max(0, flash.size - addr)]
        end = addr + len(plain)
        if state.lazy_erase:  # the stub erases each sector just before writing into it
            limit = state.offset + state.size
            while state.erased_until < min(end, limit):
                flash.erase(state.erased_until, SECTOR)
                state.erased_until += SECTOR
        flash.program(addr, self.device.faults.corrupt(addr, plain))
        state.written += len(plain)
        self.device.note_write(addr, len(plain))

    def _flash_end(self, data: bytes, chk: int, compressed: bool = False) -> None:
        op = FLASH_DEFL_END if compressed else FLASH_END
        (run_user_code,) = struct.unpack("<I", data[:4]) if len(data) >= 4 else (0,)
        self._write = None
        self._reply(op)
        if not self.stub and run_user_code:
            self.halted = True  # the ROM leaves the loader and starts the app
            self.device.boot()
        elif self.stub and not run_user_code:
            self.stub = False  # the stub reboots into the ROM loader
            self.device.stub_running = False

    def _flash_defl_end(self, data: bytes, chk: int) -> None:
        self._flash_end(data, chk, compressed=True)

    # --- reads and checks ------------------------------------------------------------

    def _md5(self, data: bytes, chk: int) -> None:
        addr, size, _, _ = struct.unpack("<IIII", data[:16])
        if addr + size > self.device.flash.size:
            raise CommandError(STUB_TOO_MUCH_DATA if self.stub else ROM_FAILED)
        digest = self.device.flash.md5(addr, size)
        self._reply(SPI_FLASH_MD5, data=digest if self.stub else digest.hex().encode())

    def _read_flash_slow(self, data: bytes, chk: int) -> None:
        addr, size = struct.unpack("<II", data[:8])
        if size > 64 or addr + size > self.device.flash.size:
            raise CommandError(ROM_FAILED)
        block = self.device.flash.read(addr, size).ljust(64, b"\xff")
        self._reply(READ_FLASH_SLOW, data=block)

    def _read_flash(self, data: bytes, chk: int) -> None:
        addr, size, block_size, in_flight = struct.unpack("<IIII", data[:16])
        flash = self.device.flash
        if addr + size > flash.size or block_size == 0:
            raise CommandError(STUB_TOO_MUCH_DATA)
        self._reply(READ_FLASH)
        sent = acked = 0
        in_flight = max(1, in_flight)
        while acked < size:
            while sent < size and (sent - acked) < in_flight * block_size:
                n = min(block_size, size - sent)
                self.send(flash.read(addr + sent, n))
                sent += n
            ack = self.recv()
            if ack is None:
                return
            if len(ack) >= 4:
                acked = struct.unpack("<I", ack[:4])[0]
        self.send(flash.md5(addr, size))

    def _erase_flash(self, data: bytes, chk: int) -> None:
        self.device.flash.erase_all()
        self._reply(ERASE_FLASH)

    def _erase_region(self, data: bytes, chk: int) -> None:
        offset, size = struct.unpack("<II", data[:8])
        if offset % SECTOR or size % SECTOR or offset + size > self.device.flash.size:
            raise CommandError(STUB_INVALID_COMMAND)
        self.device.flash.erase(offset, size)
        self._reply(ERASE_REGION)

    def _run_user_code(self, data: bytes, chk: int) -> None:
        self.halted = True
        self.device.boot()


_HANDLERS: dict[int, Callable[[LoaderSession, bytes, int], None]] = {
    SYNC: LoaderSession._sync,
    READ_REG: LoaderSession._read_reg,
    WRITE_REG: LoaderSession._write_reg,
    SPI_SET_PARAMS: LoaderSession._spi_set_params,
    SPI_ATTACH: LoaderSession._spi_attach,
    CHANGE_BAUDRATE: LoaderSession._change_baud,
    GET_SECURITY_INFO: LoaderSession._security_info,
    MEM_BEGIN: LoaderSession._mem_begin,
    MEM_DATA: LoaderSession._mem_data,
    MEM_END: LoaderSession._mem_end,
    FLASH_BEGIN: LoaderSession._flash_begin,
    FLASH_DATA: LoaderSession._flash_data,
    FLASH_END: LoaderSession._flash_end,
    FLASH_DEFL_BEGIN: LoaderSession._flash_defl_begin,
    FLASH_DEFL_DATA: LoaderSession._flash_defl_data,
    FLASH_DEFL_END: LoaderSession._flash_defl_end,
    SPI_FLASH_MD5: LoaderSession._md5,
    READ_FLASH_SLOW: LoaderSession._read_flash_slow,
    READ_FLASH: LoaderSession._read_flash,
    ERASE_FLASH: LoaderSession._erase_flash,
    ERASE_REGION: LoaderSession._erase_region,
    RUN_USER_CODE: LoaderSession._run_user_code,
}
