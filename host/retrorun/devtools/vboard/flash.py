"""The virtual board's SPI flash: a file of NOR flash, and the partition table in it.

`Flash` keeps the board's 1-16 MB of flash in a file, memory-mapped (the file always holds the
contents) and locked, so one virtual board owns it: esptool writes it in ROM mode, and in app
mode `esp32.Partition` and the ROMFS mount read and program it. NOR semantics: erasing sets
0xFF, programming can only clear bits (new = old AND data).
`write_partition_table` puts MicroPython's ESP32_GENERIC 4 MB table into a flash file.
`firmware_build` says whether the firmware in a flash has ROMFS; `filesystem_blank` and
`mark_formatted` follow the filesystem partition as the esp32 port's start-up does (a "vfs"
partition whose first sector is erased is formatted at boot: inisetup).
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
from pathlib import Path

from retrorun.errors import RetrorunError

DEFAULT_FLASH_SIZE = 4 * 1024 * 1024
SECTOR = 0x1000  # the erase unit of the W25Qxx flash (4 KB)
TABLES = ("stock", "romfs")
# littlefs v2 (littlefs SPEC.md): the superblock is metadata pair 0 (blocks 0 and 1); a block
# starts with a 32-bit revision count and its first entry, the superblock's name "littlefs",
# is at offset 8
LFS2_NAME_OFFSET = 8
LFS2_NAME = b"littlefs"


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


def write_partition_table(path: str | os.PathLike, table: str = "romfs") -> None:
    """Put MicroPython's ESP32_GENERIC 4 MB partition table into a flash file (created erased
    when missing), as a board flashed with the stock image has it ("stock") or as `retrorun
    flash` leaves it, with the romfs partition ("romfs"). Only the table's sectors change, and
    a blank filesystem partition is marked formatted (MicroPython has run on the board)."""
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
        if filesystem_blank(flash):
            mark_formatted(flash)  # a board that has run MicroPython: its filesystem is made
    finally:
        flash.close()


def _parts(flash: Flash):
    from retrorun.provision import partition_table as pt

    try:
        return pt.read_table(flash.read(0, pt.TABLE_OFFSET + pt.TABLE_SIZE))
    except ValueError:  # a damaged table: the bootloader would not start the app either
        return None


def firmware_build(flash: Flash) -> str:
    """"romfs" when the firmware written below the filesystem partition was built with ROMFS
    (it names vfs.rom_ioctl: `retrorun.provision.romfs.firmware_has_romfs`), else "stock"
    (also for a flash without a partition table)."""
    from retrorun.provision import partition_table as pt
    from retrorun.provision.romfs import firmware_has_romfs

    parts = _parts(flash)
    fs = pt.filesystem(parts) if parts else None
    if fs is None:
        return "stock"
    return "romfs" if firmware_has_romfs(flash.read(0, fs.offset)) else "stock"


def filesystem_blank(flash: Flash) -> bool:
    """Whether the partition table names a filesystem partition whose first sector is erased:
    MicroPython's start-up then formats it (a new board, or `retrorun flash` after the table
    changed)."""
    from retrorun.provision import partition_table as pt

    parts = _parts(flash)
    fs = pt.filesystem(parts) if parts else None
    return fs is not None and flash.read(fs.offset, SECTOR) == b"\xff" * SECTOR


def mark_formatted(flash: Flash) -> None:
    """Write a littlefs superblock name into the filesystem partition's first block (the board's
    files themselves live in the virtual board's folder)."""
    from retrorun.provision import partition_table as pt

    parts = _parts(flash)
    fs = pt.filesystem(parts) if parts else None
    if fs is not None:
        flash.erase(fs.offset, SECTOR)
        flash.program(fs.offset + LFS2_NAME_OFFSET, LFS2_NAME)


def write_firmware_names(flash: Flash, romfs: bool) -> None:
    """Stand in for a flashed MicroPython image: the names it holds at the start of the factory
    app partition (0x10000), which is what `firmware_build` reads; with `romfs`, a build that
    has vfs.rom_ioctl."""
    from retrorun.provision import partition_table as pt

    app = pt.find(_parts(flash) or [], "factory")
    if app is None:
        raise RetrorunError("the flash has no factory app partition to hold a firmware")
    names = b"\x00".join((b"VfsLfs2", b"VfsFat", *((b"VfsRom", b"rom_ioctl") if romfs else ())))
    flash.erase(app.offset, SECTOR)
    flash.program(app.offset, names + b"\x00")

