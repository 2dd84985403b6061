"""retrorun.provision.partition_table: the ESP-IDF binary partition table and the romfs carve-out,
and flash.add_romfs on a whole-firmware image (no board)."""

from __future__ import annotations

import hashlib
import struct

import pytest

from retrorun.errors import RetrorunError
from retrorun.provision import chips, flash, partition_table
from retrorun.provision.partition_table import TYPE_APP, TYPE_DATA, Partition

# MicroPython ESP32_GENERIC, 4 MB flash (ports/esp32/partitions-4MiB.csv of v1.2x).
STOCK_4MB = partition_table.MICROPYTHON_ESP32_4MB


def test_round_trip_and_the_bytes_of_each_entry():
    table = partition_table.encode(STOCK_4MB)
    assert len(table) == partition_table.TABLE_SIZE
    assert partition_table.decode(table) == STOCK_4MB
    # the factory entry, byte by byte (offsets from the IDF format, not from our struct)
    entry = table[64:96]
    assert entry[:2] == b"\xaa\x50" and entry[2] == 0x00 and entry[3] == 0x00
    assert int.from_bytes(entry[4:8], "little") == 0x10000
    assert int.from_bytes(entry[8:12], "little") == 0x1F0000
    assert entry[12:28] == b"factory" + b"\x00" * 9
    assert entry[28:32] == b"\x00" * 4
    flagged = [Partition("nvs", TYPE_DATA, 0x02, 0x9000, 0x6000, flags=1)]
    assert partition_table.decode(partition_table.encode(flagged)) == flagged


def test_md5_entry_and_padding_checked_with_hashlib():
    table = partition_table.encode(STOCK_4MB)
    n = 32 * len(STOCK_4MB)
    md5_entry = table[n:n + 32]
    assert md5_entry == b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(table[:n]).digest()
    assert table[n + 32:] == b"\xff" * (partition_table.TABLE_SIZE - n - 32)


@pytest.mark.parametrize("where, match", [
    (32 * 3 + 20, "MD5 does not match"),  # a byte of the vfs label
    (32 * 4 + 20, "MD5 does not match"),  # a byte of the MD5 itself
    (32 * 2 + 0, "magic"),  # the factory entry's magic
    (32 * 4 + 5, "MD5 entry .* malformed"),  # the 0xFF filler of the MD5 entry
])
def test_a_corrupted_byte_is_a_value_error(where, match):
    table = bytearray(partition_table.encode(STOCK_4MB))
    table[where] ^= 0x01
    with pytest.raises(ValueError, match=match):
        partition_table.decode(bytes(table))


def test_labels_must_be_ascii_and_not_empty():
    entry = bytearray(struct.pack("<2sBBII16sI", b"\xaa\x50", 1, 2, 0x9000, 0x6000,
                                  b"nv\xe9s".ljust(16, b"\x00"), 0))
    with pytest.raises(ValueError, match="not ASCII"):
        partition_table.decode(bytes(entry) + b"\xff" * 32)
    entry[12:28] = b"\x00" * 16
    with pytest.raises(ValueError, match="empty"):
        partition_table.decode(bytes(entry) + b"\xff" * 32)
    with pytest.raises(ValueError, match="1-16 ASCII"):
        partition_table.encode([Partition("a_label_too_long_", 1, 2, 0x9000, 0x6000)])


def test_a_table_without_md5_is_accepted_and_decoding_stops_at_ff():
    body = partition_table.encode(STOCK_4MB)[:32 * 4]
    after = partition_table.encode([Partition("junk", 1, 1, 0, 0x1000)])
    assert partition_table.decode(body + b"\xff" * 32 + after) == STOCK_4MB


def test_with_romfs_on_the_stock_4mb_layout():
    parts = partition_table.with_romfs(STOCK_4MB)
    vfs = partition_table.find(parts, "vfs")
    romfs = partition_table.find(parts, "romfs")
    assert (vfs.offset, vfs.size, vfs.subtype) == (0x200000, 0x1C0000, 0x81)
    assert romfs == Partition("romfs", TYPE_DATA, 0x06, 0x3C0000, 0x40000)
    assert parts[:3] == STOCK_4MB[:3] and parts[-1] == romfs
    assert romfs.offset == vfs.offset + vfs.size and romfs.end == 0x400000
    assert partition_table.decode(partition_table.encode(parts)) == parts
    assert STOCK_4MB[3].size == 0x200000  # the input list is not changed


def test_with_romfs_is_idempotent_and_ffat_counts_as_the_filesystem():
    once = partition_table.with_romfs(STOCK_4MB)
    assert partition_table.with_romfs(once) == once
    ffat = [*STOCK_4MB[:3], Partition("ffat", TYPE_DATA, 0x81, 0x200000, 0x100000)]
    parts = partition_table.with_romfs(ffat, size=0x20000)
    assert partition_table.find(parts, "ffat").size == 0xE0000
    assert partition_table.find(parts, "romfs").offset == 0x2E0000


def test_with_romfs_refuses_with_a_reason():
    with pytest.raises(ValueError, match=r"no 'vfs' or 'ffat' data partition.*nvs, phy_init"):
        partition_table.with_romfs(STOCK_4MB[:3])
    an_app_called_vfs = [*STOCK_4MB[:3], Partition("vfs", TYPE_APP, 0x10, 0x200000, 0x200000)]
    with pytest.raises(ValueError, match="no 'vfs'"):
        partition_table.with_romfs(an_app_called_vfs)
    small = [*STOCK_4MB[:3], Partition("vfs", TYPE_DATA, 0x81, 0x200000, 0xB0000)]
    with pytest.raises(ValueError, match=r"704 KB.*less than 512 KB"):
        partition_table.with_romfs(small)
    exactly = [*STOCK_4MB[:3], Partition("vfs", TYPE_DATA, 0x81, 0x200000, 0xC0000)]
    assert partition_table.find(partition_table.with_romfs(exactly), "vfs").size == 0x80000
    with pytest.raises(ValueError, match="multiple of 0x1000"):
        partition_table.with_romfs(STOCK_4MB, size=0x40001)


def test_read_table_from_a_flash_dump():
    dump = bytearray(b"\xff" * 0x10000)
    assert partition_table.read_table(bytes(dump)) is None
    dump[0x8000:0x8C00] = partition_table.encode(STOCK_4MB)
    assert partition_table.read_table(bytes(dump)) == STOCK_4MB
    dump[0x8001] = 0
    with pytest.raises(ValueError):
        partition_table.read_table(bytes(dump))


def firmware_with_table(chip: chips.Chip, parts: list[Partition] | None) -> bytes:
    """A whole firmware: bootloader image at the chip's offset, the table at 0x8000, an app."""
    start = partition_table.TABLE_OFFSET - chip.bootloader_offset
    out = bytearray(flash.make_image(chip, bytes(range(256)) * 8))
    out += b"\xff" * (start - len(out))
    out += partition_table.encode(parts) if parts is not None else b"\xff" * 0xC00
    out += b"\xff" * (0x10000 - chip.bootloader_offset - len(out))
    out += flash.make_image(chip, b"app" * 100, app=True)
    return bytes(out)


@pytest.mark.parametrize("chip", ["esp32", "esp32s3", "esp32c5"])
def test_add_romfs_rewrites_only_the_table_in_the_image(chip):
    chip = chips.CHIPS[chip]
    image = firmware_with_table(chip, STOCK_4MB)
    start = 0x8000 - chip.bootloader_offset
    lines = []
    out, added = flash.add_romfs(image, chip.bootloader_offset, "fw.bin", lines.append)
    assert added == Partition("romfs", TYPE_DATA, 0x06, 0x3C0000, 0x40000)
    assert len(out) == len(image)
    assert out[:start] == image[:start] and out[start + 0xC00:] == image[start + 0xC00:]
    assert partition_table.decode(out[start:start + 0xC00])[-1] == added
    assert len(lines) == 1 and "0x3C0000" in lines[0] and "sync" in lines[0]
    again, none = flash.add_romfs(out, chip.bootloader_offset, "fw.bin", lines.append)
    assert again == out and none is None and "already has a romfs" in lines[-1]


def test_add_romfs_leaves_images_it_cannot_change_and_refuses_a_damaged_table():
    esp32 = chips.CHIPS["esp32"]
    short = flash.make_image(esp32, bytes(20000))  # ends before 0x8000
    lines = []
    assert flash.add_romfs(short, 0x1000, "s.bin", lines.append) == (short, None)
    assert lines == []
    no_table = firmware_with_table(esp32, None)
    assert flash.add_romfs(no_table, 0x1000, "n.bin", lines.append) == (no_table, None)
    assert "No partition table at 0x8000" in lines[-1]
    no_vfs = firmware_with_table(esp32, STOCK_4MB[:3])
    assert flash.add_romfs(no_vfs, 0x1000, "v.bin", lines.append) == (no_vfs, None)
    assert "No romfs partition added" in lines[-1] and "no 'vfs'" in lines[-1]
    assert "\n" not in lines[-1]
    damaged = bytearray(firmware_with_table(esp32, STOCK_4MB))
    damaged[0x7000 + 40] ^= 0xFF
    with pytest.raises(RetrorunError, match=r"partition table in d\.bin .* not valid.*--no-romfs"):
        flash.add_romfs(bytes(damaged), 0x1000, "d.bin")
