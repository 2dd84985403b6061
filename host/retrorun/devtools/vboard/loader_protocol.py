"""The ESP32 serial loader's wire format, as esptool speaks it: SLIP framing, the command and
status codes of the ROM and of the flasher stub, the chip's identifying registers (magic value,
eFuse words with the MAC), and the boot log lines. Facts from the esptool serial protocol
documentation and the ESP32 technical reference (see rom.py, which answers the commands).
"""

from __future__ import annotations

# ---- opcodes -------------------------------------------------------------------------------
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

# ROM status error codes
ROM_INVALID_MESSAGE = 0x05
ROM_FAILED = 0x06
ROM_BAD_CRC = 0x07
ROM_FLASH_WRITE_ERR = 0x08
ROM_FLASH_READ_ERR = 0x09
ROM_DEFLATE_ERR = 0x0B
# stub status error codes
STUB_BAD_DATA_LEN = 0xC0
STUB_BAD_CHECKSUM = 0xC1
STUB_BAD_BLOCKSIZE = 0xC2
STUB_INVALID_COMMAND = 0xC3
STUB_FAILED_SPI_OP = 0xC4
STUB_NOT_IN_FLASH_MODE = 0xC6
STUB_INFLATE_ERROR = 0xC7
STUB_NOT_ENOUGH_DATA = 0xC8
STUB_TOO_MUCH_DATA = 0xC9

CHECKSUM_SEED = 0xEF
SYNC_PAYLOAD = b"\x07\x07\x12\x20" + b"\x55" * 32
ROM_SYNC_VALUE = 0x20120707  # any non-zero value tells esptool "this is the ROM, not the stub"

# ---- ESP32 registers esptool reads ----------------------------------------------------------
CHIP_MAGIC_ADDR = 0x40001000
ESP32_MAGIC = 0x00F01D83
EFUSE_BASE = 0x3FF5A000
APB_CTL_DATE = 0x3FF6607C
UART0_CLKDIV = 0x3FF40014
RTC_CALI_CFG1 = 0x3FF5F06C
GPIO_STRAP = 0x3FF44038
SPI0_BASE = 0x3FF42000
SPI_CMD = SPI0_BASE + 0x00
SPI_ADDR = SPI0_BASE + 0x04
SPI_USER = SPI0_BASE + 0x1C
SPI_USER1 = SPI0_BASE + 0x20
SPI_USER2 = SPI0_BASE + 0x24
SPI_MOSI_DLEN = SPI0_BASE + 0x28
SPI_MISO_DLEN = SPI0_BASE + 0x2C
SPI_W0 = SPI0_BASE + 0x80
SPI_CMD_USR = 1 << 18
SPI_USR_ADDR = 1 << 30
SPI_USR_MISO = 1 << 28
SPI_USR_MOSI = 1 << 27

XTAL_HZ = 40_000_000
DEFAULT_BAUD = 115200
DEFAULT_MAC = bytes((0x24, 0x0A, 0xC4, 0x5E, 0x70, 0x01))
WINBOND = 0xEF  # JEDEC manufacturer of the emulated W25Qxx flash

BOOT_LOG_DOWNLOAD = (b"ets Jun  8 2016 00:22:57\r\n\r\n"
                     b"rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
                     b"waiting for download\r\n")

def xor_checksum(data: bytes) -> int:
    """The loader's data checksum: XOR of every byte, seeded with 0xEF."""
    state = CHECKSUM_SEED
    for byte in data:
        state ^= byte
    return state


def slip_encode(payload: bytes) -> bytes:
    """One SLIP frame: 0xC0, payload with 0xDB -> DB DD and 0xC0 -> DB DC, 0xC0."""
    return b"\xc0" + payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class SlipDecoder:
    """Splits a byte stream into SLIP frames; bytes outside a frame are ignored, as the ROM does."""

    def __init__(self) -> None:
        self._frame: bytearray | None = None
        self._escape = False

    def reset(self) -> None:
        self._frame = None
        self._escape = False

    def feed(self, data: bytes) -> list[bytes]:
        frames = []
        for byte in data:
            if self._frame is None:
                if byte == 0xC0:
                    self._frame = bytearray()
                continue
            if self._escape:
                self._escape = False
                self._frame.append({0xDC: 0xC0, 0xDD: 0xDB}.get(byte, byte))
            elif byte == 0xDB:
                self._escape = True
            elif byte == 0xC0:
                if self._frame:
                    frames.append(bytes(self._frame))
                    self._frame = None
                # an empty frame (C0 C0) is a frame start after a stray end: keep collecting
            else:
                self._frame.append(byte)
        return frames


def _crc8_maxim(data: bytes) -> int:
    """CRC-8 (Dallas/Maxim, reflected polynomial 0x8C): the check byte stored next to the MAC."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


def efuse_words(mac: bytes) -> dict[int, int]:
    """eFuse block 0 of an ESP32-D0WD-V3 rev 3.0, 240 MHz, Vref calibrated, with `mac`."""
    words = dict.fromkeys(range(32), 0)
    words[1] = int.from_bytes(mac[2:6], "big")
    words[2] = (_crc8_maxim(mac) << 16) | (mac[0] << 8) | mac[1]
    # word 3: package D0WD (bits 9-11 = 1), rated CPU frequency 240 MHz (bit 13), rev bit 0 (15)
    words[3] = (1 << 9) | (1 << 13) | (1 << 15)
    # word 4: CK8M frequency calibration 50 (bits 0-7, gives a 40 MHz ROM crystal estimate),
    # ADC Vref trim (bits 8-12)
    words[4] = 50 | (0x11 << 8)
    words[5] = 1 << 20  # rev bit 1 (with APB_CTL_DATE bit 31: revision v3.0)
    return words
