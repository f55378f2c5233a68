"""Opcodes, error codes, magic values and the data checksum of the ESP serial download protocol.

The numbers are esptool's (`ESPLoader.ESP_CMDS`) and the ROM's/stub's status codes.
"""

# opcodes
FLASH_BEGIN = 0x02
FLASH_DATA = 0x03
FLASH_END = 0x04
MEM_BEGIN = 0x05
MEM_END = 0x06
MEM_DATA = 0x07
SYNC = 0x08
WRITE_REG = 0x09
READ_REG = 0x0A
SPI_SET_PARAMS = 0x0B
SPI_ATTACH = 0x0D
READ_FLASH_SLOW = 0x0E
CHANGE_BAUDRATE = 0x0F
FLASH_DEFL_BEGIN = 0x10
FLASH_DEFL_DATA = 0x11
FLASH_DEFL_END = 0x12
SPI_FLASH_MD5 = 0x13
GET_SECURITY_INFO = 0x14
ERASE_FLASH = 0xD0
ERASE_REGION = 0xD1
READ_FLASH = 0xD2
RUN_USER_CODE = 0xD3

# ROM error codes (second status byte) and the stub's equivalents
ROM_INVALID_MSG = 0x05
ROM_FAILED = 0x06
ROM_BAD_CRC = 0x07
ROM_FLASH_WRITE = 0x08
ROM_DEFLATE = 0x0B
STUB_BAD_CHECKSUM = 0xC1
STUB_INVALID_COMMAND = 0xC3
STUB_NOT_IN_FLASH_MODE = 0xC6
STUB_INFLATE = 0xC7
STUB_TOO_MUCH_DATA = 0xC9

CHECKSUM_SEED = 0xEF
ROM_SYNC_VALUE = 0x20120707
SFDP_SIGNATURE = 0x50444653
SPI_CMD_USR = 1 << 18


def checksum(data: bytes) -> int:
    """The ROM's XOR checksum of a data block (seed 0xEF)."""
    # XOR of all bytes, folded in halves on one big integer (fast for 16 KiB blocks).
    value = int.from_bytes(data, "little")
    width = len(data)
    while width > 1:
        half = (width + 1) // 2
        value = (value & ((1 << (8 * half)) - 1)) ^ (value >> (8 * half))
        width = half
    return (value & 0xFF) ^ CHECKSUM_SEED
