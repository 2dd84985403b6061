"""A virtual board's flash as `retrorun flash` leaves it: MicroPython's ESP32_GENERIC 4 MB
partition table, with or without the romfs partition (shared by the vboard and e2e tests)."""

from __future__ import annotations

from pathlib import Path

from retrorun.devtools.vboard.flash import Flash, write_firmware_names, write_partition_table
from retrorun.provision import partition_table as pt

# Names as a MicroPython image holds them (NUL-terminated qstrs): every build with littlefs has
# VfsLfs2; only a build with MICROPY_VFS_ROM has rom_ioctl (extmod/modvfs.c)
STOCK_NAMES = b"mount\x00umount\x00VfsLfs2\x00VfsFat\x00"
ROMFS_NAMES = STOCK_NAMES + b"VfsRom\x00rom_ioctl\x00"

STOCK_4MB = pt.MICROPYTHON_ESP32_4MB
WITH_ROMFS = pt.with_romfs(STOCK_4MB)
ROMFS = pt.find(WITH_ROMFS, pt.ROMFS_LABEL)


def flash_file(path: Path, romfs: bool = True, firmware: str = "romfs") -> Path:
    """Write a 4 MB flash file holding the partition table (`romfs`: with the romfs partition)
    and the names of the MicroPython flashed (`firmware`: "romfs", a custom build with ROMFS,
    or "stock", a micropython.org download); return its path."""
    write_partition_table(path, "romfs" if romfs else "stock")
    flash = Flash(path)
    try:
        write_firmware_names(flash, romfs=firmware == "romfs")
    finally:
        flash.close()
    return path
