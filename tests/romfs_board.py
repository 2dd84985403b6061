"""A virtual board's flash as `retrorun flash` leaves it: MicroPython's ESP32_GENERIC 4 MB
partition table, with or without the romfs partition (shared by the vboard and e2e tests)."""

from __future__ import annotations

from pathlib import Path

from retrorun.devtools.vboard.flash import Flash, write_firmware_names, write_partition_table
from retrorun.provision import partition_table as pt

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
