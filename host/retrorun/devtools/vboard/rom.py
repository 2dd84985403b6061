"""The ESP32 ROM serial loader and the esptool flasher stub, as the virtual board speaks them.

Real esptool talks to this exactly as to a chip in download mode: SLIP frames carrying
`<BBHI` command headers (direction 0, opcode, length, XOR-0xEF checksum) and answering with
`<BBHI` responses (direction 1, opcode, length, value) followed by data and status bytes (four
status bytes from the ESP32 ROM, two from the stub). Facts used, from the esptool serial
protocol documentation and the ESP32 technical reference:

- ROM commands: FLASH_BEGIN/DATA/END 0x02-0x04, MEM_BEGIN/END/DATA 0x05-0x07, SYNC 0x08,
  WRITE_REG 0x09, READ_REG 0x0A, SPI_SET_PARAMS 0x0B, SPI_ATTACH 0x0D, READ_FLASH_SLOW 0x0E,
  CHANGE_BAUDRATE 0x0F, FLASH_DEFL_BEGIN/DATA/END 0x10-0x12, SPI_FLASH_MD5 0x13 (32 hex
  characters from the ROM, 16 raw bytes from the stub). GET_SECURITY_INFO 0x14 is not in the
  ESP32 ROM, so it is refused as on the chip (esptool then falls back to the magic register).
- Stub-only commands: ERASE_FLASH 0xD0, ERASE_REGION 0xD1, READ_FLASH 0xD2 (data streamed in
  packets, each acknowledged by the host with the running byte count, then a 16-byte MD5).
- The stub is an Xtensa binary we do not run: when esptool uploads code with MEM_* and jumps
  to an entry point inside it, the loader answers `OHAI` and speaks the stub protocol.
- Chip identity: magic 0x00F01D83 at 0x40001000; eFuse words at 0x3FF5A000 (MAC in words 1-2,
  package/revision/features in words 3-6); SPI0 user-command registers at 0x3FF42000 run
  RDID (0x9F), SFDP (0x5A), RDSR and the flash-reset commands esptool pokes.

Flash is NOR: erasing sets 0xFF, programming can only clear bits (new = old AND data).
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path

from retrorun.errors import RetrorunError

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
SECTOR = 0x1000
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
DEFAULT_FLASH_SIZE = 4 * 1024 * 1024
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


class Flash:
    """SPI NOR flash kept in a file (memory-mapped, so the file always holds the contents)."""

    def __init__(self, path: str | os.PathLike, size: int | None = None) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise RetrorunError(f"flash file {self.path} is a folder; give --flash a file path "
                                "(created as 4 MB of 0xFF when missing)")
        if self.path.exists():
            actual = self.path.stat().st_size
            if size is not None and actual != size:
                raise RetrorunError(f"flash file {self.path} holds {actual} bytes, not {size}; "
                                    "delete it or pass the matching size")
            size = actual
        else:
            size = size or DEFAULT_FLASH_SIZE
            self._create(size)
        if size < 1 << 20 or size > 16 << 20 or size & (size - 1):
            raise RetrorunError(f"flash file {self.path} is {size} bytes; use a power of two "
                                "from 1 MB to 16 MB (4 MB is the ESP32-WROOM-32 size)")
        self.size = size
        try:
            self._file = open(self.path, "r+b")  # noqa: SIM115 - held open for the mapping
        except OSError as exc:
            raise RetrorunError(f"cannot open flash file {self.path} ({exc.strerror}); give "
                                "--flash a file you can write") from exc
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            raise RetrorunError(f"flash file {self.path} is in use by another virtual board; "
                                "stop it or pass another --flash")
        self._map = mmap.mmap(self._file.fileno(), size)

    def _create(self, size: int) -> None:
        """A new flash file of `size` bytes of 0xFF (erased NOR); a failed write leaves none."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "xb") as handle:
                try:
                    chunk = b"\xff" * 65536
                    for _ in range(size // 65536):
                        handle.write(chunk)
                    handle.write(b"\xff" * (size % 65536))
                except OSError:
                    handle.close()
                    self.path.unlink(missing_ok=True)
                    raise
        except OSError as exc:
            raise RetrorunError(f"cannot create flash file {self.path} ({exc.strerror}); give "
                                "--flash a path in a folder you can write") from exc

    def _check(self, offset: int, length: int) -> bool:
        return offset >= 0 and length >= 0 and offset + length <= self.size

    def read(self, offset: int, length: int) -> bytes:
        if not self._check(offset, length):
            raise ValueError(f"read of {length} bytes at {offset:#x} is outside the flash")
        return bytes(self._map[offset:offset + length])

    def erase(self, offset: int, length: int) -> None:
        """Erase every 4 KB sector touching [offset, offset + length)."""
        if length <= 0:
            return
        start = offset - offset % SECTOR
        end = min(-(-(offset + length) // SECTOR) * SECTOR, self.size)
        if not self._check(start, end - start) or start >= end:
            raise ValueError(f"erase of {length} bytes at {offset:#x} is outside the flash")
        self._map[start:end] = b"\xff" * (end - start)

    def erase_all(self) -> None:
        self.erase(0, self.size)

    def program(self, offset: int, data: bytes) -> None:
        """Program bytes: NOR cells only go from 1 to 0, so the result is old AND new."""
        if not self._check(offset, len(data)):
            raise ValueError(f"write of {len(data)} bytes at {offset:#x} is outside the flash")
        old = int.from_bytes(self._map[offset:offset + len(data)], "little")
        new = old & int.from_bytes(data, "little")
        self._map[offset:offset + len(data)] = new.to_bytes(len(data), "little")

    def md5(self, offset: int, length: int) -> bytes:
        return hashlib.md5(self.read(offset, length)).digest()

    def flush(self) -> None:
        self._map.flush()

    def close(self) -> None:
        if not self._map.closed:
            self._map.flush()
            self._map.close()
            self._file.close()


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


class _Fail(Exception):
    """A command failed: the response carries status 1 and this error code."""

    def __init__(self, rom_code: int, stub_code: int) -> None:
        super().__init__(rom_code, stub_code)
        self.rom_code = rom_code
        self.stub_code = stub_code


class RomLoader:
    """The ESP32 serial download mode, fed with bytes from the host.

    `write(bytes)` sends bytes to the host. `on_exit(kind)` is called when the loader leaves:
    kind "app" (run user code) or "rom" (reboot into the loader: the stub is gone).
    """

    def __init__(self, flash: Flash, write: Callable[[bytes], None], *, mac: bytes = DEFAULT_MAC,
                 on_exit: Callable[[str], None] | None = None) -> None:
        if len(mac) != 6:
            raise ValueError("a MAC address has 6 bytes")
        self.flash = flash
        self._write = write
        self._on_exit = on_exit or (lambda kind: None)
        self.mac = bytes(mac)
        self._efuse = efuse_words(self.mac)
        self.log: deque[str] = deque(maxlen=2000)  # recent commands handled, for debugging
        self.reset()

    # ---- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Chip reset: back to the ROM loader, RAM and registers cleared, stub gone."""
        self.stub = False
        self.baud = DEFAULT_BAUD
        self._slip = SlipDecoder()
        self._regs: dict[int, int] = {}
        self._ram: dict[int, bytearray] = {}  # segment start -> bytes uploaded with MEM_DATA
        self._mem: dict | None = None
        self._write_op: dict | None = None
        self._reading: dict | None = None
        self.flash_params: dict | None = None
        self.spi_attached = False

    @property
    def status_len(self) -> int:
        return 2 if self.stub else 4

    # ---- framing ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        for frame in self._slip.feed(data):
            if self._reading is not None and len(frame) == 4:
                self._read_ack(frame)
                continue
            if self._reading is not None:
                self.log.append("read abandoned by the host")
                self._reading = None  # a new command (a host that reconnected): stop streaming
            self._command(frame)

    def _send(self, payload: bytes) -> None:
        self._write(slip_encode(payload))

    def _respond(self, op: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error]) + bytes(self.status_len - 2)
        body = data + status
        self._send(struct.pack("<BBHI", 1, op, len(body), value & 0xFFFFFFFF) + body)

    def _command(self, frame: bytes) -> None:
        if len(frame) < 8 or frame[0] != 0:
            return  # responses or noise: the ROM ignores them
        _, op, length, checksum = struct.unpack_from("<BBHI", frame)
        data = frame[8:]
        if len(data) != length:
            self._respond(op, error=ROM_INVALID_MESSAGE if not self.stub else STUB_BAD_DATA_LEN)
            return
        handler = self._handlers().get(op)
        if handler is None:
            self.log.append(f"unsupported {op:#04x}")
            self._respond(op, error=ROM_INVALID_MESSAGE if not self.stub else STUB_INVALID_COMMAND)
            return
        try:
            handler(op, data, checksum)
        except _Fail as fail:
            self.log.append(f"{op:#04x} failed")
            self._respond(op, error=fail.stub_code if self.stub else fail.rom_code)
        except (ValueError, struct.error):
            self.log.append(f"{op:#04x} bad parameters")
            self._respond(op, error=STUB_BAD_DATA_LEN if self.stub else ROM_INVALID_MESSAGE)

    def _handlers(self) -> dict[int, Callable[[int, bytes, int], None]]:
        table = {
            SYNC: self._sync, READ_REG: self._read_reg, WRITE_REG: self._write_reg,
            SPI_ATTACH: self._spi_attach, SPI_SET_PARAMS: self._spi_set_params,
            FLASH_BEGIN: self._flash_begin, FLASH_DATA: self._flash_data,
            FLASH_END: self._flash_end, FLASH_DEFL_BEGIN: self._flash_begin,
            FLASH_DEFL_DATA: self._flash_data, FLASH_DEFL_END: self._flash_end,
            MEM_BEGIN: self._mem_begin, MEM_DATA: self._mem_data, MEM_END: self._mem_end,
            SPI_FLASH_MD5: self._md5, CHANGE_BAUDRATE: self._change_baud,
        }
        if self.stub:
            table.update({ERASE_FLASH: self._erase_flash, ERASE_REGION: self._erase_region,
                          READ_FLASH: self._read_flash})
        else:
            table[READ_FLASH_SLOW] = self._read_flash_slow
        return table

    # ---- basic commands --------------------------------------------------------------------
    def _sync(self, op: int, data: bytes, _chk: int) -> None:
        if data != SYNC_PAYLOAD:
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        value = 0 if self.stub else ROM_SYNC_VALUE
        self.log.append("sync")
        for _ in range(8):  # the ROM answers a SYNC eight times; the stub copies that
            self._respond(op, value)

    def read_register(self, addr: int) -> int:
        """The value a READ_REG of `addr` returns."""
        if addr == CHIP_MAGIC_ADDR:
            return ESP32_MAGIC
        if EFUSE_BASE <= addr < EFUSE_BASE + 0x80 and addr % 4 == 0:
            return self._efuse[(addr - EFUSE_BASE) // 4]
        if addr == APB_CTL_DATE:
            return 0x80000000 | 0x16042000  # bit 31: chip revision bit 2
        if addr == UART0_CLKDIV:
            apb = 80_000_000 if self.stub else XTAL_HZ  # the stub runs the APB from the PLL
            return round(apb / self.baud) & 0xFFFFF
        if addr == RTC_CALI_CFG1:
            return 2048 << 7  # with CK8M calibration 50: the ROM's 40 MHz crystal estimate
        if addr == GPIO_STRAP:
            return 0x03  # GPIO0 low at reset: download boot, VDD_SDIO 3.3 V
        if addr in self._regs:
            return self._regs[addr]
        for start, segment in self._ram.items():
            if start <= addr and addr + 4 <= start + len(segment):
                return int.from_bytes(segment[addr - start:addr - start + 4], "little")
        return 0

    def _read_reg(self, op: int, data: bytes, _chk: int) -> None:
        (addr,) = struct.unpack("<I", data[:4])
        self._respond(op, self.read_register(addr))

    def _write_reg(self, op: int, data: bytes, _chk: int) -> None:
        if len(data) % 16:
            raise ValueError("WRITE_REG takes 16-byte (address, value, mask, delay) records")
        for pos in range(0, len(data), 16):
            addr, value, mask, _delay = struct.unpack_from("<IIII", data, pos)
            old = self.read_register(addr)
            self._regs[addr] = (old & ~mask) | (value & mask)
            if addr == SPI_CMD and self._regs[addr] & SPI_CMD_USR:
                self._spi_user_command()
                self._regs[SPI_CMD] &= ~SPI_CMD_USR
        self._respond(op)

    def _spi_attach(self, op: int, data: bytes, _chk: int) -> None:
        if len(data) not in (4, 8):
            raise ValueError("SPI_ATTACH takes 4 (stub) or 8 (ROM) bytes")
        self.spi_attached = True
        self._respond(op)

    def _spi_set_params(self, op: int, data: bytes, _chk: int) -> None:
        fl_id, total, block, sector, page, status_mask = struct.unpack("<IIIIII", data)
        self.flash_params = {"id": fl_id, "total_size": total, "block_size": block,
                             "sector_size": sector, "page_size": page, "status_mask": status_mask}
        self._respond(op)

    def _change_baud(self, op: int, data: bytes, _chk: int) -> None:
        new, _old = struct.unpack("<II", data)
        if new == 0:
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        self._respond(op)  # answered at the old rate, then the UART switches
        self.baud = new
        self.log.append(f"baud {new}")

    # ---- SPI flash user commands (RDID and friends through the SPI0 registers) -------------
    def flash_id(self) -> int:
        """RDID as the host reads it from W0: manufacturer, memory type, capacity (LSB first)."""
        capacity = self.flash.size.bit_length() - 1
        return WINBOND | (0x40 << 8) | (capacity << 16)

    def _sfdp(self, addr: int, length: int) -> bytes:
        table = bytearray(b"\xff" * 256)
        table[0:8] = b"SFDP" + bytes((0x06, 0x01, 0x00, 0xFF))
        table[8:16] = bytes((0x00, 0x06, 0x01, 0x10, 0x30, 0x00, 0x00, 0xFF))
        table[0x30:0x34] = struct.pack("<I", 0xFFF120E5)
        table[0x34:0x38] = struct.pack("<I", self.flash.size * 8 - 1)
        return bytes(table[addr % 256:addr % 256 + length].ljust(length, b"\xff"))

    def _spi_user_command(self) -> None:
        user = self._regs.get(SPI_USER, 0)
        command = self._regs.get(SPI_USER2, 0) & 0xFF
        addr = None
        if user & SPI_USR_ADDR:
            addr_bits = ((self._regs.get(SPI_USER1, 0) >> 26) & 0x3F) + 1
            addr = self._regs.get(SPI_ADDR, 0) >> (32 - addr_bits)
        miso_bytes = 0
        if user & SPI_USR_MISO:
            miso_bytes = (self._regs.get(SPI_MISO_DLEN, 0) + 1 + 7) // 8
        if command == 0x9F:  # RDID
            reply = self.flash_id().to_bytes(3, "little")
        elif command == 0x5A:  # read SFDP
            reply = self._sfdp(addr or 0, miso_bytes)
        elif command == 0xAB:  # release power-down / device ID
            reply = bytes((self.flash.size.bit_length() - 7,))
        elif command in (0x05, 0x35, 0x15):  # status registers: idle, no protection
            reply = b"\x00"
        else:  # WREN, WRDI, WRSR, reset-enable, reset, power-down: accepted, no data
            reply = b""
        self.log.append(f"spi {command:#04x}")
        if miso_bytes:
            reply = reply[:miso_bytes].ljust(miso_bytes, b"\x00")
            self._regs[SPI_W0] = int.from_bytes(reply[:4].ljust(4, b"\x00"), "little")

    # ---- RAM download (how esptool uploads the stub) ---------------------------------------
    def _mem_begin(self, op: int, data: bytes, _chk: int) -> None:
        size, blocks, block_size, offset = struct.unpack("<IIII", data)
        if blocks * block_size < size:
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_BLOCKSIZE)
        self._mem = {"offset": offset, "size": size, "block": block_size, "seq": 0}
        self._ram[offset] = bytearray(size)
        self._respond(op)

    def _mem_data(self, op: int, data: bytes, checksum: int) -> None:
        size, seq, _, _ = struct.unpack_from("<IIII", data)
        payload = data[16:]
        if self._mem is None:
            raise _Fail(ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        if size != len(payload) or size > self._mem["block"]:
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        if xor_checksum(payload) != checksum & 0xFF:
            raise _Fail(ROM_BAD_CRC, STUB_BAD_CHECKSUM)
        if seq != self._mem["seq"]:
            raise _Fail(ROM_FAILED, STUB_BAD_DATA_LEN)
        start = seq * self._mem["block"]
        segment = self._ram[self._mem["offset"]]
        if start + size > len(segment):
            raise _Fail(ROM_INVALID_MESSAGE, STUB_TOO_MUCH_DATA)
        segment[start:start + size] = payload
        self._mem["seq"] += 1
        self._respond(op)

    def _mem_end(self, op: int, data: bytes, _chk: int) -> None:
        no_entry, entry = struct.unpack("<II", data)
        self._mem = None
        self._respond(op)
        if no_entry:
            return
        inside = any(start <= entry < start + len(seg) for start, seg in self._ram.items())
        if not inside:
            self.log.append(f"jump to {entry:#x} outside uploaded code: crash")
            return  # a real chip would crash here; esptool times out waiting for OHAI
        self.log.append(f"stub running (entry {entry:#x})")
        self.stub = True
        self.baud = self.baud  # the stub keeps the rate the ROM used
        self._send(b"OHAI")

    # ---- flash writes (plain and deflated; ROM and stub) ----------------------------------
    def _flash_begin(self, op: int, data: bytes, _chk: int) -> None:
        if len(data) not in (16, 20):
            raise ValueError("FLASH_BEGIN takes 16 or 20 bytes")
        size, blocks, block_size, offset = struct.unpack_from("<IIII", data)
        if len(data) == 20 and struct.unpack_from("<I", data, 16)[0]:
            raise _Fail(ROM_FAILED, STUB_FAILED_SPI_OP)  # encrypted writes: no flash encryption
        deflated = op == FLASH_DEFL_BEGIN
        if offset + size > self.flash.size:
            raise _Fail(ROM_FLASH_WRITE_ERR, STUB_TOO_MUCH_DATA)
        if not self.stub and offset % SECTOR:
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_BLOCKSIZE)  # the ROM erases whole sectors
        self.flash.erase(offset, size)
        self._write_op = {
            "deflated": deflated, "offset": offset, "size": size, "block": block_size,
            "blocks": blocks, "seq": 0, "written": 0,
            "inflate": zlib.decompressobj() if deflated else None,
        }
        self.log.append(f"{'defl ' if deflated else ''}begin {size} bytes at {offset:#x}")
        self._respond(op)

    def _flash_data(self, op: int, data: bytes, checksum: int) -> None:
        write = self._write_op
        deflated = op == FLASH_DEFL_DATA
        if write is None or write["deflated"] != deflated:
            raise _Fail(ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        size, seq, _, _ = struct.unpack_from("<IIII", data)
        payload = data[16:]
        if size != len(payload):
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        if xor_checksum(payload) != checksum & 0xFF:
            raise _Fail(ROM_BAD_CRC, STUB_BAD_CHECKSUM)
        if seq != write["seq"]:
            raise _Fail(ROM_FAILED, STUB_BAD_DATA_LEN)
        if deflated:
            try:
                out = write["inflate"].decompress(payload)
            except zlib.error:
                raise _Fail(ROM_DEFLATE_ERR, STUB_INFLATE_ERROR)
        elif self.stub:
            out = payload[:max(0, write["size"] - write["written"])]  # drop the 0xFF padding
        else:
            out = payload  # the ROM programs the whole (0xFF-padded) block
        if write["written"] + len(out) > (write["size"] if deflated or self.stub
                                          else write["blocks"] * write["block"]):
            raise _Fail(ROM_FLASH_WRITE_ERR, STUB_TOO_MUCH_DATA)
        try:
            self.flash.program(write["offset"] + write["written"], out)
        except ValueError:
            raise _Fail(ROM_FLASH_WRITE_ERR, STUB_FAILED_SPI_OP)
        write["written"] += len(out)
        write["seq"] += 1
        self._respond(op)

    def _flash_end(self, op: int, data: bytes, _chk: int) -> None:
        (stay,) = struct.unpack("<I", data[:4])
        write = self._write_op
        if self.stub and write is not None and write["written"] < write["size"]:
            self._write_op = None
            raise _Fail(ROM_FAILED, STUB_NOT_ENOUGH_DATA)
        if self.stub and write is None and op == FLASH_DEFL_END:
            raise _Fail(ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        self._write_op = None
        self.flash.flush()
        self._respond(op)
        self.log.append(f"end ({'stay' if stay else 'reboot'})")
        if self.stub:
            if not stay:  # the stub's soft reset brings the ROM loader back
                self.reset()
                self._on_exit("rom")
        elif stay:  # ROM: "run user code"
            self._on_exit("app")
        else:
            self.reset()
            self._on_exit("rom")

    # ---- verify, erase, read ---------------------------------------------------------------
    def _md5(self, op: int, data: bytes, _chk: int) -> None:
        addr, size, _, _ = struct.unpack("<IIII", data)
        try:
            digest = self.flash.md5(addr, size)
        except ValueError:
            raise _Fail(ROM_FLASH_READ_ERR, STUB_FAILED_SPI_OP)
        self.log.append(f"md5 {size} bytes at {addr:#x}")
        self._respond(op, data=digest if self.stub else digest.hex().encode())

    def _erase_flash(self, op: int, data: bytes, _chk: int) -> None:
        self.flash.erase_all()
        self.flash.flush()
        self.log.append("erase all")
        self._respond(op)

    def _erase_region(self, op: int, data: bytes, _chk: int) -> None:
        offset, size = struct.unpack("<II", data)
        if offset % SECTOR or size % SECTOR:
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        try:
            self.flash.erase(offset, size)
        except ValueError:
            raise _Fail(ROM_FLASH_WRITE_ERR, STUB_FAILED_SPI_OP)
        self.flash.flush()
        self.log.append(f"erase {size} bytes at {offset:#x}")
        self._respond(op)

    def _read_flash_slow(self, op: int, data: bytes, _chk: int) -> None:
        offset, length = struct.unpack("<II", data)
        if length > 64:
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        try:
            block = self.flash.read(offset, length)
        except ValueError:
            raise _Fail(ROM_FLASH_READ_ERR, STUB_FAILED_SPI_OP)
        self._respond(op, data=block.ljust(64, b"\xff"))

    def _read_flash(self, op: int, data: bytes, _chk: int) -> None:
        offset, length, packet, in_flight = struct.unpack("<IIII", data)
        if packet == 0 or in_flight == 0 or offset + length > self.flash.size:
            raise _Fail(ROM_INVALID_MESSAGE, STUB_BAD_DATA_LEN)
        self._respond(op)
        self.log.append(f"read {length} bytes at {offset:#x}")
        self._reading = {"offset": offset, "length": length, "packet": packet,
                         "in_flight": in_flight, "sent": 0, "acked": 0,
                         "md5": hashlib.md5()}
        self._pump_read()

    def _pump_read(self) -> None:
        reading = self._reading
        assert reading is not None
        while (reading["sent"] < reading["length"]
               and reading["sent"] - reading["acked"] < reading["in_flight"] * reading["packet"]):
            size = min(reading["packet"], reading["length"] - reading["sent"])
            chunk = self.flash.read(reading["offset"] + reading["sent"], size)
            reading["md5"].update(chunk)
            reading["sent"] += size
            self._send(chunk)
        if reading["acked"] >= reading["length"]:
            self._reading = None
            self._send(reading["md5"].digest())

    def _read_ack(self, frame: bytes) -> None:
        (acked,) = struct.unpack("<I", frame)
        assert self._reading is not None
        self._reading["acked"] = max(self._reading["acked"], acked)
        self._pump_read()


TABLES = ("stock", "romfs")


def write_partition_table(path: str | os.PathLike, table: str = "romfs") -> None:
    """Put MicroPython's ESP32_GENERIC 4 MB partition table into a flash file (created erased
    when missing), as a board flashed with the stock image has it ("stock") or as `retrorun
    flash` leaves it, with the romfs partition ("romfs"). Only the table's sectors change."""
    from retrorun.provision import partition_table as pt

    if table not in TABLES:
        raise RetrorunError(f"unknown partition table {table!r}; choose stock or romfs")
    parts = pt.MICROPYTHON_ESP32_4MB
    flash = Flash(path)
    try:
        if flash.size < pt.find(parts, "vfs").end:
            raise RetrorunError(f"flash file {path} is {flash.size} bytes; the ESP32_GENERIC "
                                "partition table needs 4 MB")
        flash.erase(pt.TABLE_OFFSET, pt.TABLE_SIZE)
        flash.program(pt.TABLE_OFFSET,
                      pt.encode(pt.with_romfs(parts) if table == "romfs" else parts))
    finally:
        flash.close()
