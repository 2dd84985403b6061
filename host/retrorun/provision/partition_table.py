"""Read and rewrite the ESP-IDF partition table inside a firmware image, to add a ROMFS partition.

MicroPython's esp32 port (v1.25+) mounts a DATA partition labelled "romfs" at /rom and runs
.mpy bytecode from it in place (no heap copy). Stock MicroPython images have no such partition,
so `retrorun flash` carves one from the end of the image's "vfs" (or "ffat") data partition
(`with_romfs`) before writing the image.

Binary format (ESP-IDF "Partition Tables" guide, `gen_esp32part.py`): the table sits at flash
offset 0x8000 and is at most 0xC00 bytes. Each entry is 32 bytes, struct "<2sBBII16sI":
magic b"\\xAA\\x50", type, subtype, offset, size, label (16 bytes, NUL-padded), flags (bit 0
encrypted, bit 1 readonly). After the entries comes an optional MD5 entry: b"\\xEB\\xEB",
14 bytes of 0xFF, then the 16-byte MD5 of all preceding entry bytes. The rest is 0xFF.
"""

from __future__ import annotations

import hashlib
import struct
from typing import NamedTuple

TABLE_OFFSET = 0x8000  # where the table lives in flash (all ESP32 chips, IDF default)
TABLE_SIZE = 0xC00  # max table size (3 KB), padded with 0xFF
ROMFS_LABEL = "romfs"
ROMFS_SIZE = 0x40000  # 256 KB
TYPE_APP, TYPE_DATA = 0x00, 0x01
SUBTYPE_DATA_UNDEFINED = 0x06  # ESP_PARTITION_SUBTYPE_DATA_UNDEFINED
MIN_VFS_SIZE = 0x80000  # 512 KB: what with_romfs leaves the filesystem at least

ENTRY_FORMAT = "<2sBBII16sI"
ENTRY_SIZE = 32
ENTRY_MAGIC = b"\xAA\x50"
MD5_MAGIC = b"\xEB\xEB"
LABEL_SIZE = 16
_SECTOR = 0x1000  # flash erase sector: partition offsets and sizes are multiples of it
_FILESYSTEM_LABELS = ("vfs", "ffat")

assert struct.calcsize(ENTRY_FORMAT) == ENTRY_SIZE


class Partition(NamedTuple):
    label: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.size


# MicroPython's ESP32_GENERIC 4 MB layout (ports/esp32/partitions-4MiB.csv): the table a stock
# image carries; with_romfs(MICROPYTHON_ESP32_4MB) is what `retrorun flash` writes for it.
MICROPYTHON_ESP32_4MB = [Partition("nvs", TYPE_DATA, 0x02, 0x9000, 0x6000),
                         Partition("phy_init", TYPE_DATA, 0x01, 0xF000, 0x1000),
                         Partition("factory", TYPE_APP, 0x00, 0x10000, 0x1F0000),
                         Partition("vfs", TYPE_DATA, 0x81, 0x200000, 0x200000)]


def decode(table: bytes) -> list[Partition]:
    """The partitions of a binary table; ValueError on a bad magic, MD5 or label.

    Stops at the first entry that is all 0xFF. The MD5 entry, when present, must match the
    entries before it (IDF can build tables without one, so a missing MD5 is accepted).
    """
    parts: list[Partition] = []
    for start in range(0, len(table) - ENTRY_SIZE + 1, ENTRY_SIZE):
        entry = table[start:start + ENTRY_SIZE]
        if entry == b"\xff" * ENTRY_SIZE:
            return parts
        magic = entry[:2]
        if magic == MD5_MAGIC:
            if entry[2:16] != b"\xff" * 14:
                raise ValueError(f"partition table MD5 entry at byte {start} is malformed")
            if hashlib.md5(table[:start]).digest() != entry[16:]:
                raise ValueError("partition table MD5 does not match its entries "
                                 "(the table is damaged)")
            continue
        if magic != ENTRY_MAGIC:
            raise ValueError(f"partition table entry at byte {start} has magic "
                             f"{magic.hex()} (expected aa50); not a partition table")
        _, ptype, subtype, offset, size, raw_label, flags = struct.unpack(ENTRY_FORMAT, entry)
        label_bytes = raw_label.split(b"\x00", 1)[0]
        try:
            label = label_bytes.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"partition table entry at byte {start} has a label that is "
                             f"not ASCII ({raw_label!r})") from None
        if not label or not label.isprintable():
            raise ValueError(f"partition table entry at byte {start} has an empty or "
                             f"unprintable label ({raw_label!r})")
        parts.append(Partition(label, ptype, subtype, offset, size, flags))
    return parts


def encode(parts: list[Partition]) -> bytes:
    """The binary table (TABLE_SIZE bytes): entries, MD5 entry, 0xFF padding."""
    if (len(parts) + 1) * ENTRY_SIZE > TABLE_SIZE:
        raise ValueError(f"{len(parts)} partitions do not fit in a {TABLE_SIZE}-byte table")
    body = bytearray()
    for p in parts:
        label = p.label.encode("ascii")
        if not label or len(label) > LABEL_SIZE:
            raise ValueError(f"partition label {p.label!r} must be 1-{LABEL_SIZE} ASCII "
                             "characters")
        body += struct.pack(ENTRY_FORMAT, ENTRY_MAGIC, p.type, p.subtype, p.offset, p.size,
                            label.ljust(LABEL_SIZE, b"\x00"), p.flags)
    body += MD5_MAGIC + b"\xff" * 14 + hashlib.md5(body).digest()
    return bytes(body.ljust(TABLE_SIZE, b"\xff"))


def find(parts: list[Partition], label: str) -> Partition | None:
    """The partition called `label`, or None."""
    return next((p for p in parts if p.label == label), None)


def filesystem(parts: list[Partition]) -> Partition | None:
    """The data partition MicroPython keeps its filesystem in ("vfs", or "ffat" on TinyUF2
    layouts), or None."""
    return next((p for p in parts if p.label in _FILESYSTEM_LABELS and p.type == TYPE_DATA),
                None)


def with_romfs(parts: list[Partition], size: int = ROMFS_SIZE) -> list[Partition]:
    """`parts` with a `size`-byte "romfs" data partition taken from the end of "vfs"/"ffat".

    Returns `parts` unchanged when a "romfs" partition exists already. ValueError, with the
    reason, when there is no vfs/ffat data partition or it would shrink below 512 KB.
    """
    if find(parts, ROMFS_LABEL) is not None:
        return list(parts)
    if size <= 0 or size % _SECTOR:
        raise ValueError(f"romfs size {size:#x} must be a positive multiple of {_SECTOR:#x}")
    fs = filesystem(parts)
    if fs is None:
        names = ", ".join(p.label for p in parts) or "none"
        raise ValueError(f"the partition table has no 'vfs' or 'ffat' data partition to take "
                         f"a romfs from (partitions: {names})")
    if fs.size - size < MIN_VFS_SIZE:
        raise ValueError(f"the '{fs.label}' partition is {fs.size // 1024} KB; taking "
                         f"{size // 1024} KB for romfs would leave less than "
                         f"{MIN_VFS_SIZE // 1024} KB")
    shrunk = fs._replace(size=fs.size - size)
    romfs = Partition(ROMFS_LABEL, TYPE_DATA, SUBTYPE_DATA_UNDEFINED, fs.end - size, size)
    return [shrunk if p is fs else p for p in parts] + [romfs]


def read_table(flash: bytes) -> list[Partition] | None:
    """The table at TABLE_OFFSET of a flash dump; None when that region is all 0xFF."""
    region = flash[TABLE_OFFSET:TABLE_OFFSET + TABLE_SIZE]
    if region == b"\xff" * len(region):
        return None
    return decode(region)
