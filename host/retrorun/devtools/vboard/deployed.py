"""A virtual board's flash and filesystem as `retrorun flash` and `retrorun deploy` leave them.

`board_folder(board, work, layout)` writes, under `work`, the filesystem folder (`fs/`: /boot.py,
/main.py, /board.json, /config.json, and in the "files" layout /lib with the .mpy files) and
the flash file (`flash.bin`), from the same functions deploy uses, without a serial link: what
the benches and the simulator boot.
- "files" (default): a stock MicroPython download (no ROMFS) with its own partition table, the
  firmware as .mpy files in /lib: what a maker's board runs.
- "romfs": a custom MicroPython build with ROMFS (its names include vfs.rom_ioctl, so the
  virtual board boots it as such), the partition table with the romfs partition `retrorun flash`
  adds, and the firmware's ROMFS image in it.
"""

from __future__ import annotations

import json
from pathlib import Path

from retrorun.errors import RetrorunError

LAYOUTS = ("files", "romfs")


def board_folder(board, work: Path, layout: str = "files", *, main: bool = True,
                 config: dict | None = None) -> tuple[Path, Path]:
    """(fs folder, flash file). `main`: put /main.py on it (the board starts the app at boot);
    `config`: settings that differ from the defaults, written into /config.json."""
    from retrorun.devtools.vboard.flash import Flash, write_firmware_names, write_partition_table
    from retrorun.provision import partition_table as pt
    from retrorun.provision.deploy import DEVICE_LIB, default_config, firmware_files, romfs_image

    if layout not in LAYOUTS:
        raise RetrorunError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    fs = work / "fs"
    fs.mkdir(parents=True)
    files = firmware_files(board)
    for path, data in files.items():
        if (path == "/main.py" and not main) or (
                layout == "romfs" and path.startswith(DEVICE_LIB + "/")):
            continue
        (fs / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (fs / path.lstrip("/")).write_bytes(data)
    values = json.loads(default_config())
    values.update(config or {})
    (fs / "config.json").write_text(json.dumps(values, sort_keys=True))
    write_partition_table(work / "flash.bin", "romfs" if layout == "romfs" else "stock")
    flash = Flash(work / "flash.bin")
    try:
        write_firmware_names(flash, romfs=layout == "romfs")
        if layout == "romfs":
            romfs = pt.find(pt.with_romfs(pt.MICROPYTHON_ESP32_4MB), pt.ROMFS_LABEL)
            image = romfs_image(files)
            if romfs is None or len(image) > romfs.size:
                raise RetrorunError("the firmware's ROMFS image does not fit the romfs partition")
            flash.program(romfs.offset, image)
    finally:
        flash.close()
    return fs, work / "flash.bin"
