"""A virtual ESP32 that real, unmodified esptool cannot tell from a board (a testing aid).

It serves the serial ROM-loader protocol over TCP, so esptool reaches it through
pyserial's `socket://127.0.0.1:PORT` URLs: chip detection (the magic register on ESP32,
GET_SECURITY_INFO chip id on ESP32-C3/S3), eFuse MAC, flash id and size, RAM download
of esptool's flasher stub (after which it answers as the stub), plain and compressed
writes, SPI_FLASH_MD5, reads. Flash behaves like NOR (erase to 0xFF, program ANDs).

    from fleet.sim.esp32 import VirtualEsp32, serve_devices

    boards = [VirtualEsp32("esp32", "24:0a:c4:00:00:01"), VirtualEsp32("esp32c3", ...)]
    with serve_devices(boards) as server:
        run(["esptool", "--port", server.urls[0], "read-mac"])
        boards[0].flash.read(0x9000, 0x6000)   # what was written
        boards[0].last_boot.node_config        # the identity it booted with

Resets: closing the connection resets the board (it boots from flash, then waits in the
ROM loader again); see `device`. Pacing (`baud_pace`) and faults (`Faults`) make it a
slow or failing board on demand.
"""

from fleet.sim.esp32.boot import BootInfo, BootPartition
from fleet.sim.esp32.chips import CHIPS, ChipModel, chip_model
from fleet.sim.esp32.device import VirtualEsp32, mac_plus, parse_mac
from fleet.sim.esp32.faults import Faults
from fleet.sim.esp32.flash import NorFlash
from fleet.sim.esp32.server import DevicePort, DeviceServer, make_devices, serve_devices

__all__ = [
    "CHIPS",
    "BootInfo",
    "BootPartition",
    "ChipModel",
    "DevicePort",
    "DeviceServer",
    "Faults",
    "NorFlash",
    "VirtualEsp32",
    "chip_model",
    "mac_plus",
    "make_devices",
    "parse_mac",
    "serve_devices",
]
