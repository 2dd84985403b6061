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

import hashlib
import struct
import zlib
from collections import deque
from collections.abc import Callable

from retrorun.devtools.vboard.flash import SECTOR, Flash
from retrorun.devtools.vboard.loader_protocol import (
    APB_CTL_DATE,
    CHANGE_BAUDRATE,
    CHIP_MAGIC_ADDR,
    DEFAULT_BAUD,
    DEFAULT_MAC,
    EFUSE_BASE,
    ERASE_FLASH,
    ERASE_REGION,
    ESP32_MAGIC,
    FLASH_BEGIN,
    FLASH_DATA,
    FLASH_DEFL_BEGIN,
    FLASH_DEFL_DATA,
    FLASH_DEFL_END,
    FLASH_END,
    GPIO_STRAP,
    MEM_BEGIN,
    MEM_DATA,
    MEM_END,
    READ_FLASH,
    READ_FLASH_SLOW,
    READ_REG,
    ROM_BAD_CRC,
    ROM_DEFLATE_ERR,
    ROM_FAILED,
    ROM_FLASH_READ_ERR,
    ROM_FLASH_WRITE_ERR,
    ROM_INVALID_MESSAGE,
    ROM_SYNC_VALUE,
    RTC_CALI_CFG1,
    SPI_ADDR,
    SPI_ATTACH,
    SPI_CMD,
    SPI_CMD_USR,
    SPI_FLASH_MD5,
    SPI_MISO_DLEN,
    SPI_SET_PARAMS,
    SPI_USER,
    SPI_USER1,
    SPI_USER2,
    SPI_USR_ADDR,
    SPI_USR_MISO,
    SPI_W0,
    STUB_BAD_BLOCKSIZE,
    STUB_BAD_CHECKSUM,
    STUB_BAD_DATA_LEN,
    STUB_FAILED_SPI_OP,
    STUB_INFLATE_ERROR,
    STUB_INVALID_COMMAND,
    STUB_NOT_ENOUGH_DATA,
    STUB_NOT_IN_FLASH_MODE,
    STUB_TOO_MUCH_DATA,
    SYNC,
    SYNC_PAYLOAD,
    UART0_CLKDIV,
    WINBOND,
    WRITE_REG,
    XTAL_HZ,
    SlipDecoder,
    efuse_words,
    slip_encode,
    xor_checksum,
)


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


