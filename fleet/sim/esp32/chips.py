"""What each modelled chip looks like to esptool: ids, register addresses, eFuse layout.

One table, one entry per chip (no `if chip == ...` chains elsewhere). The numbers are the
ones esptool's own target classes read (`esptool/targets/esp32*.py`): the chip-detect
magic register on ESP32, the GET_SECURITY_INFO chip id on ESP32-C3/S3, where the base MAC
sits in eFuse, the SPI0 register block used for "user" flash commands, and the eFuse
words that encode package and revision.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from fleet.errors import UsageError
from fleet.firmware.chips import CHIPS as CHIP_FACTS
from fleet.firmware.chips import ChipFacts

CHIP_DETECT_MAGIC_REG = 0x40001000
SECTOR_SIZE = 0x1000

# JEDEC RDID answers as esptool reads them (bytes EF 40 16 on the wire, little-endian):
# Winbond W25Q32/64/128. esptool takes the size code from the top byte.
_FLASH_IDS = {4 * 1024 * 1024: 0x1640EF, 8 * 1024 * 1024: 0x1740EF, 16 * 1024 * 1024: 0x1840EF}


@dataclass(frozen=True)
class ChipModel:
    """Constants of one chip family as the ROM loader exposes them.

    Identity facts (names, image chip id, bootloader offset, default flash size) come from
    the one chip table, `fleet.firmware.chips`; this adds what only the ROM loader shows.
    """

    facts: ChipFacts
    magic_value: int  # read at CHIP_DETECT_MAGIC_REG
    has_security_info: bool  # GET_SECURITY_INFO answers (with chip id)
    spi_base: int
    spi_usr: int
    spi_usr2: int
    spi_w0: int
    spi_addr_msb: bool  # ESP32 shifts the address to the register's MSB
    mac_layout: str  # "esp32" (BLK0 words 1-2 + CRC) or "block1" (C3/S3 MAC_EFUSE_REG)
    mac_reg: int  # ESP32: eFuse read base; C3/S3: MAC_EFUSE_REG
    extra_regs: dict[int, int] = field(default_factory=dict)  # package, revision, clocks

    @property
    def name(self) -> str:
        """esptool's --chip spelling."""
        return self.facts.name

    @property
    def display(self) -> str:
        """esptool's CHIP_NAME."""
        return self.facts.display

    @property
    def image_chip_id(self) -> int:
        return self.facts.image_chip_id

    @property
    def bootloader_offset(self) -> int:
        return self.facts.bootloader_offset

    @property
    def default_flash_size(self) -> int:
        """In bytes (the table says e.g. "4MB")."""
        return int(self.facts.default_flash_size.removesuffix("MB")) * 1024 * 1024

    def flash_id(self, flash_size: int) -> int:
        """The 24-bit RDID answer for a flash of `flash_size` bytes."""
        try:
            return _FLASH_IDS[flash_size]
        except KeyError:
            raise UsageError(
                f"virtual {self.name}: unsupported flash size {flash_size} "
                f"(one of {sorted(_FLASH_IDS)})"
            ) from None

    def mac_registers(self, mac: bytes) -> dict[int, int]:
        """eFuse register values that make esptool's `read_mac` return `mac`."""
        if self.mac_layout == "esp32":
            # read_mac: pack(">II", efuse2, efuse1)[2:8]; efuse2 bits 16-23 hold the CRC8.
            word1 = struct.unpack(">I", mac[2:6])[0]
            word2 = (_mac_crc8(mac) << 16) | (mac[0] << 8) | mac[1]
            return {self.mac_reg + 4: word1, self.mac_reg + 8: word2}
        # read_mac: pack(">II", reg(+4), reg(+0))[2:]
        mac0 = struct.unpack(">I", mac[2:6])[0]
        mac1 = (mac[0] << 8) | mac[1]
        return {self.mac_reg: mac0, self.mac_reg + 4: mac1}


def _mac_crc8(mac: bytes) -> int:
    """The CRC8 (Dallas/Maxim, reflected 0x8C) ESP32 keeps next to its factory MAC."""
    crc = 0
    for byte in mac:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


_ESP32_EFUSE = 0x3FF5A000
_C3_BLOCK1 = 0x60008800 + 0x44
_S3_BLOCK1 = 0x60007000 + 0x44
_S3_BLOCK2 = 0x60007000 + 0x5C

CHIPS: dict[str, ChipModel] = {
    "esp32": ChipModel(
        facts=CHIP_FACTS["esp32"],
        magic_value=0x00F01D83,
        has_security_info=False,
        spi_base=0x3FF42000,
        spi_usr=0x1C,
        spi_usr2=0x24,
        spi_w0=0x80,
        spi_addr_msb=True,
        mac_layout="esp32",
        mac_reg=_ESP32_EFUSE,
        extra_regs={
            # ESP32-D0WD-V3 revision v3.0: pkg 1, rev bits in efuse3/efuse5/APB_CTL_DATE.
            _ESP32_EFUSE + 0x0C: (1 << 9) | (1 << 15),
            _ESP32_EFUSE + 0x10: 100,  # RD_CK8M_FREQ, for the ROM crystal calculation
            _ESP32_EFUSE + 0x14: 1 << 20,
            0x3FF66000 + 0x7C: 1 << 31,  # APB_CTL_DATE
            0x3FF5F06C: 1024 << 7,  # RTCCALICFG1: 1024 * 15625 * 100 / 40 = 40 MHz
            0x3FF40014: 347,  # UART_CLKDIV at 115200 Bd from a 40 MHz APB
        },
    ),
    "esp32c3": ChipModel(
        facts=CHIP_FACTS["esp32c3"],
        magic_value=0x1B31506F,
        has_security_info=True,
        spi_base=0x60002000,
        spi_usr=0x18,
        spi_usr2=0x20,
        spi_w0=0x58,
        spi_addr_msb=False,
        mac_layout="block1",
        mac_reg=_C3_BLOCK1,
        extra_regs={_C3_BLOCK1 + 12: 4 << 18, 0x60000014: 347},  # revision v0.4
    ),
    "esp32s3": ChipModel(
        facts=CHIP_FACTS["esp32s3"],
        magic_value=0x00000009,
        has_security_info=True,
        spi_base=0x60002000,
        spi_usr=0x18,
        spi_usr2=0x20,
        spi_w0=0x58,
        spi_addr_msb=False,
        mac_layout="block1",
        mac_reg=_S3_BLOCK1,
        extra_regs={
            _S3_BLOCK1 + 12: (2 << 18) | (1 << 24),  # revision v0.2, block version 1.1
            _S3_BLOCK2 + 16: 1,
            0x60000014: 347,
        },
    ),
}

ALIASES = {"esp32-c3": "esp32c3", "esp32-s3": "esp32s3"}


def chip_model(name: str) -> ChipModel:
    """The model for `name` (`esp32`, `esp32c3`, `esp32s3`; dashes allowed)."""
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return CHIPS[key]
    except KeyError:
        raise UsageError(
            f"virtual ESP32: unknown chip {name!r} (one of {', '.join(CHIPS)})"
        ) from None
