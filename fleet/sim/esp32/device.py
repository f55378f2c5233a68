"""A virtual ESP32 board: chip, factory MAC, NOR flash, registers, faults and boots.

The board itself does no I/O; `fleet.sim.esp32.server` puts it on a TCP port so that
esptool reaches it as `socket://127.0.0.1:PORT`. Resetting: esptool resets a board by
toggling RTS/DTR, which cannot travel over TCP. Here the end of a connection is the
reset: when the host closes the port after talking to the board (a connection that sends
nothing is only a presence probe), the board reboots from flash (`boot()` runs and
`on_boot` callbacks fire), and since a station keeps the board's GPIO0 strapped low, it
is back in the ROM loader for the next connection (the stub is gone). `reset()` does the
same from Python.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable

from fleet.errors import UsageError
from fleet.sim.esp32.boot import BootInfo, boot
from fleet.sim.esp32.chips import CHIP_DETECT_MAGIC_REG, ChipModel, chip_model
from fleet.sim.esp32.faults import Faults
from fleet.sim.esp32.flash import NorFlash

_MAC_RE = re.compile(r"^[0-9a-f]{12}$")


def parse_mac(mac: str | bytes) -> bytes:
    """Six MAC bytes from `aa:bb:cc:dd:ee:ff`, `aabbccddeeff`, `esp32-aabb...` or bytes."""
    if isinstance(mac, bytes):
        if len(mac) != 6:
            raise UsageError(f"MAC must be 6 bytes, got {len(mac)}")
        return mac
    text = mac.lower().removeprefix("esp32-").replace(":", "").replace("-", "")
    if not _MAC_RE.match(text):
        raise UsageError(f"not a MAC address: {mac!r}")
    return bytes.fromhex(text)


def mac_plus(mac: str | bytes, n: int) -> bytes:
    """The MAC `n` above `mac` (consecutive boards of one batch)."""
    value = int.from_bytes(parse_mac(mac), "big") + n
    return (value % (1 << 48)).to_bytes(6, "big")


class VirtualEsp32:
    """One board. `chip` is `esp32`, `esp32c3` or `esp32s3`; `mac` its factory MAC.

    `flash_size` defaults to the chip's production size (4 MB; 16 MB on S3).
    `baud_pace` (bits per second) makes every byte on the wire cost 10 bit times.
    """

    def __init__(
        self,
        chip: str | ChipModel,
        mac: str | bytes,
        *,
        flash_size: int | None = None,
        baud_pace: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.chip = chip if isinstance(chip, ChipModel) else chip_model(chip)
        self.mac = parse_mac(mac)
        self.flash = NorFlash(flash_size or self.chip.default_flash_size)
        self.baud_pace = baud_pace
        self.faults = faults or Faults()
        self.registers: dict[int, int] = {}
        self.stub_running = False
        self.negotiated_baud: int | None = None
        self.last_boot: BootInfo | None = None
        self.boots = 0
        self.on_boot: list[Callable[[BootInfo], None]] = []
        self.commands: Counter[int] = Counter()
        self.bytes_written = 0
        self._lock = threading.Lock()
        self.power_on()

    @property
    def hardware_id(self) -> str:
        """`esp32-` + the 12 hex digits of the factory MAC (the hydro 2.0 hardware_id)."""
        return "esp32-" + self.mac.hex()

    @property
    def mac_str(self) -> str:
        """The MAC as esptool prints it (`aa:bb:cc:dd:ee:ff`)."""
        return ":".join(f"{b:02x}" for b in self.mac)

    def power_on(self) -> None:
        """Registers back to their reset values (eFuses included); flash is kept."""
        self.registers = dict(self.chip.extra_regs)
        self.registers[CHIP_DETECT_MAGIC_REG] = self.chip.magic_value
        self.registers.update(self.chip.mac_registers(self.mac))
        self.stub_running = False
        self.negotiated_baud = None

    def read_register(self, addr: int) -> int:
        """A 32-bit register or memory word as READ_REG answers it (unknown: 0)."""
        return self.registers.get(addr, 0)

    def note_command(self, op: int) -> None:
        """Count one request (tests look at which commands esptool used)."""
        self.commands[op] += 1

    def note_write(self, addr: int, length: int) -> None:
        """Count bytes programmed into flash."""
        self.bytes_written += length

    def boot(self) -> BootInfo:
        """Run from flash: record and return what the board would come up as."""
        info = boot(self.flash, self.chip, self.hardware_id)
        with self._lock:
            self.last_boot = info
            self.boots += 1
        for callback in list(self.on_boot):
            callback(info)
        return info

    def reset(self) -> BootInfo:
        """A reset pulse: boot from flash, then back to the ROM loader for the next session."""
        info = self.boot()
        self.power_on()
        return info

    def __repr__(self) -> str:
        return f"VirtualEsp32({self.chip.name}, {self.mac_str})"
