"""The ROM loader and the auto-reset circuit, driven frame by frame (no sockets, no esptool)."""

from __future__ import annotations

import hashlib
import random
import struct
import zlib

import pytest

from retrorun.devtools.vboard.autoreset import AutoReset
from retrorun.devtools.vboard.flash import Flash
from retrorun.devtools.vboard.loader_protocol import (
    CHIP_MAGIC_ADDR,
    ERASE_REGION,
    ESP32_MAGIC,
    FLASH_BEGIN,
    FLASH_DATA,
    FLASH_DEFL_BEGIN,
    FLASH_DEFL_DATA,
    FLASH_DEFL_END,
    FLASH_END,
    MEM_BEGIN,
    MEM_DATA,
    MEM_END,
    READ_FLASH,
    READ_REG,
    SPI_FLASH_MD5,
    SYNC,
    SYNC_PAYLOAD,
    SlipDecoder,
    slip_encode,
    xor_checksum,
)
from retrorun.devtools.vboard.rom import RomLoader
from retrorun.errors import RetrorunError


class Host:
    """Plays esptool's side: builds command frames, decodes the loader's answers."""

    def __init__(self, tmp_path, size=None):
        self.out = bytearray()
        self.flash = Flash(tmp_path / "flash.bin", size)
        self.exits: list[str] = []
        self.loader = RomLoader(self.flash, self.out.extend, on_exit=self.exits.append)
        self.decoder = SlipDecoder()

    def frames(self) -> list[bytes]:
        data, self.out[:] = bytes(self.out), b""
        return self.decoder.feed(data)

    def send(self, op: int, data: bytes = b"", chk: int = 0) -> list[bytes]:
        self.loader.feed(slip_encode(struct.pack("<BBHI", 0, op, len(data), chk) + data))
        return self.frames()

    def command(self, op: int, data: bytes = b"", chk: int = 0):
        frames = self.send(op, data, chk)
        assert len(frames) == 1, frames
        direction, op_ret, length, value = struct.unpack_from("<BBHI", frames[0])
        body = frames[0][8:]
        assert (direction, op_ret, length) == (1, op, len(body))
        status = self.loader.status_len
        return value, body[:-status], body[-status:]

    def ok(self, op: int, data: bytes = b"", chk: int = 0):
        value, payload, status = self.command(op, data, chk)
        assert status[0] == 0, f"command {op:#x} failed with error {status[1]:#x}"
        return value, payload

    def upload_stub(self):
        code = bytes(range(256)) * 8
        self.ok(MEM_BEGIN, struct.pack("<IIII", len(code), 1, 0x1800, 0x40080000))
        self.ok(MEM_DATA, struct.pack("<IIII", len(code), 0, 0, 0) + code, xor_checksum(code))
        self.loader.feed(slip_encode(struct.pack("<BBHI", 0, MEM_END, 8, 0)
                                     + struct.pack("<II", 0, 0x40080010)))
        return self.frames()


def block(data: bytes, seq: int) -> tuple[bytes, int]:
    return struct.pack("<IIII", len(data), seq, 0, 0) + data, xor_checksum(data)


def test_slip_round_trip_escapes_both_special_bytes():
    payload = bytes([0xC0, 1, 0xDB, 0xDB, 0xDC, 0xC0])
    frame = slip_encode(payload)
    assert frame.count(b"\xc0") == 2  # only the delimiters remain
    assert SlipDecoder().feed(b"noise" + frame + frame[:3]) == [payload]


def test_sync_answers_eight_times_and_rom_sends_nonzero_value(tmp_path):
    host = Host(tmp_path)
    frames = host.send(SYNC, SYNC_PAYLOAD)
    assert len(frames) == 8
    values = {struct.unpack_from("<BBHI", f)[3] for f in frames}
    assert len(values) == 1 and values.pop() != 0  # non-zero: "ROM, not stub"
    assert host.send(SYNC, b"\x07\x07\x12\x21" + b"\x55" * 32)[0][8] == 1  # bad pattern fails


def test_chip_magic_and_mac_words(tmp_path):
    host = Host(tmp_path)
    assert host.ok(READ_REG, struct.pack("<I", CHIP_MAGIC_ADDR))[0] == ESP32_MAGIC
    word1 = host.ok(READ_REG, struct.pack("<I", 0x3FF5A004))[0]
    word2 = host.ok(READ_REG, struct.pack("<I", 0x3FF5A008))[0]
    mac = struct.pack(">II", word2, word1)[2:]  # esptool's ESP32 read_mac
    assert mac == host.loader.mac


def test_rom_flash_write_checks_xor_checksum_and_sequence(tmp_path):
    host = Host(tmp_path)
    data = bytes(random.Random(1).randrange(256) for _ in range(0x400))
    host.ok(FLASH_BEGIN, struct.pack("<IIII", 0x800, 2, 0x400, 0x3000))
    payload, chk = block(data, 0)
    _, _, status = host.command(FLASH_DATA, payload, chk ^ 1)
    assert status[:2] == bytes((1, 0x07))  # ROM: invalid CRC
    _, _, status = host.command(FLASH_DATA, *block(data, 1))
    assert status[0] == 1  # out of sequence
    host.ok(FLASH_DATA, payload, chk)
    host.ok(FLASH_DATA, *block(data[::-1], 1))
    assert host.flash.read(0x3000, 0x800) == data + data[::-1]
    _value, digest, status = host.command(SPI_FLASH_MD5, struct.pack("<IIII", 0x3000, 0x800, 0, 0))
    assert digest == hashlib.md5(data + data[::-1]).hexdigest().encode()  # ROM: 32 hex chars
    assert len(status) == 4  # the ESP32 ROM sends four status bytes


def test_stub_upload_answers_ohai_then_stub_protocol(tmp_path):
    host = Host(tmp_path)
    assert host.upload_stub()[-1] == b"OHAI"
    assert host.loader.stub and host.loader.status_len == 2
    sync = host.send(SYNC, SYNC_PAYLOAD)
    assert len(sync) == 8 and struct.unpack_from("<I", sync[0], 4)[0] == 0  # stub: value 0


def test_jump_outside_uploaded_code_never_says_ohai(tmp_path):
    host = Host(tmp_path)
    host.ok(MEM_BEGIN, struct.pack("<IIII", 16, 1, 0x1800, 0x40080000))
    host.ok(MEM_DATA, *block(bytes(16), 0))
    frames = host.send(MEM_END, struct.pack("<II", 0, 0x40090000))
    assert b"OHAI" not in frames and not host.loader.stub


def test_stub_deflate_write_programs_exact_bytes_and_md5_is_raw(tmp_path):
    host = Host(tmp_path)
    host.upload_stub()
    rng = random.Random(7)
    image = bytes(rng.choice(b"abcdefgh") for _ in range(40000))
    packed = zlib.compress(image, 9)
    host.ok(FLASH_DEFL_BEGIN, struct.pack("<IIIII", len(image), 2, 0x4000, 0x10000, 0))
    for seq, start in enumerate(range(0, len(packed), 0x4000)):
        host.ok(FLASH_DEFL_DATA, *block(packed[start:start + 0x4000], seq))
    host.ok(FLASH_DEFL_END, struct.pack("<I", 1))
    assert host.flash.read(0x10000, len(image)) == image
    assert host.flash.read(0x10000 + len(image), 16) == b"\xff" * 16
    _, digest = host.ok(SPI_FLASH_MD5, struct.pack("<IIII", 0x10000, len(image), 0, 0))
    assert digest == hashlib.md5(image).digest()


def test_stub_refuses_end_before_all_data_arrived(tmp_path):
    host = Host(tmp_path)
    host.upload_stub()
    host.ok(FLASH_BEGIN, struct.pack("<IIIII", 0x5000, 2, 0x4000, 0, 0))
    host.ok(FLASH_DATA, *block(b"\x00" * 0x4000, 0))
    _, _, status = host.command(FLASH_END, struct.pack("<I", 1))
    assert status == bytes((1, 0xC8))  # not enough data


def test_nor_programming_only_clears_bits_until_erased(tmp_path):
    flash = Flash(tmp_path / "f.bin")
    flash.program(0x100, b"\x0f\xf0")
    flash.program(0x100, b"\xf0\xff")
    assert flash.read(0x100, 2) == b"\x00\xf0"
    flash.erase(0x100, 1)  # erases the whole 4 KB sector
    assert flash.read(0, 0x1000) == b"\xff" * 0x1000
    with pytest.raises(ValueError):
        flash.program(flash.size - 1, b"\x00\x00")


def test_flash_file_size_must_be_a_flash_size(tmp_path):
    (tmp_path / "odd.bin").write_bytes(b"\xff" * 3000)
    with pytest.raises(RetrorunError, match="power of two"):
        Flash(tmp_path / "odd.bin")


def test_stub_read_flash_streams_packets_with_flow_control(tmp_path):
    host = Host(tmp_path)
    image = random.Random(3).randbytes(0x3800)
    host.flash.program(0x2000, image)
    host.upload_stub()
    frames = host.send(READ_FLASH, struct.pack("<IIII", 0x2000, len(image), 0x1000, 2))
    assert frames[0][8:] == b"\x00\x00"  # the command's own answer comes first
    packets = frames[1:]
    assert [len(p) for p in packets] == [0x1000, 0x1000]  # at most 2 packets unacknowledged
    got = b"".join(packets)
    host.loader.feed(slip_encode(struct.pack("<I", 0x1000)))
    more = host.frames()
    assert [len(p) for p in more] == [0x1000]  # one ack frees one packet slot
    got += more[0]
    host.loader.feed(slip_encode(struct.pack("<I", 0x3000)))
    last = host.frames()
    assert [len(p) for p in last] == [0x800]
    got += last[0]
    host.loader.feed(slip_encode(struct.pack("<I", len(image))))
    assert host.frames() == [hashlib.md5(image).digest()]  # digest only after the final ack
    assert got == image


def test_erase_region_needs_sector_alignment(tmp_path):
    host = Host(tmp_path)
    host.flash.program(0x4000, b"\x00" * 0x2000)
    host.upload_stub()
    _, _, status = host.command(ERASE_REGION, struct.pack("<II", 0x4100, 0x1000))
    assert status[0] == 1
    host.ok(ERASE_REGION, struct.pack("<II", 0x4000, 0x1000))
    assert host.flash.read(0x4000, 0x2000) == b"\xff" * 0x1000 + b"\x00" * 0x1000


def test_unknown_command_is_refused_not_ignored(tmp_path):
    host = Host(tmp_path)
    _, _, status = host.command(0x14)  # GET_SECURITY_INFO: not in the ESP32 ROM
    assert status[:2] == bytes((1, 0x05))


def test_rom_run_user_code_and_stub_reboot_leave_the_loader(tmp_path):
    host = Host(tmp_path)
    host.ok(FLASH_BEGIN, struct.pack("<IIII", 0, 0, 0x400, 0))
    host.ok(FLASH_END, struct.pack("<I", 1))
    assert host.exits == ["app"]
    host.upload_stub()
    host.ok(FLASH_BEGIN, struct.pack("<IIIII", 0, 0, 0x4000, 0, 0))
    host.ok(FLASH_END, struct.pack("<I", 0))
    assert host.exits == ["app", "rom"] and not host.loader.stub


# ---- auto-reset circuit ---------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(("dtr", "rts", "en", "io0"), [
    (False, False, True, True), (True, True, True, True),
    (False, True, False, True), (True, False, True, False)])
def test_devkitc_truth_table(dtr, rts, en, io0):
    circuit = AutoReset(lambda kind: None)
    circuit.set_lines(dtr=dtr, rts=rts)
    assert (circuit.en, circuit.io0) == (en, io0)


def test_classic_reset_sequence_enters_rom_despite_the_both_asserted_glitch():
    clock, boots, holds = Clock(), [], []
    circuit = AutoReset(boots.append, lambda: holds.append(1), clock=clock)
    circuit.set_lines(dtr=True, rts=True)  # what a freshly opened RFC 2217 port sends
    # esptool ClassicReset, one line at a time, ~50 ms apart over RFC 2217
    for dtr, rts in ((False, None), (None, True), (False, None), (True, None), (None, False),
                     (True, None), (False, None)):
        clock.now += 0.05
        circuit.set_lines(dtr=dtr, rts=rts)
        circuit.poll()
    assert holds == [1] and boots == ["rom"]


def test_hard_reset_boots_app_after_the_release_window():
    clock, boots = Clock(), []
    circuit = AutoReset(boots.append, clock=clock)
    circuit.set_lines(rts=True)
    clock.now += 0.1
    circuit.set_lines(rts=False)
    circuit.poll()
    assert boots == [] and circuit.in_reset
    clock.now += circuit.window_s
    circuit.poll()
    assert boots == ["app"] and not circuit.in_reset


def test_a_command_during_a_stub_read_abandons_the_stream(tmp_path):
    host = Host(tmp_path)
    host.upload_stub()
    frames = host.send(READ_FLASH, struct.pack("<IIII", 0, 0x10000, 0x1000, 1))
    assert len(frames) == 2  # answer + one packet, then it waits for an ack
    sync = host.send(SYNC, SYNC_PAYLOAD)  # a host that reconnected and syncs
    assert len(sync) == 8 and all(f[:2] == b"\x01\x08" for f in sync)


def test_one_flash_file_serves_one_board(tmp_path):
    first = Flash(tmp_path / "flash.bin")
    with pytest.raises(RetrorunError, match="in use"):
        Flash(tmp_path / "flash.bin")
    first.close()
    Flash(tmp_path / "flash.bin").close()  # free again once the first board closed it
