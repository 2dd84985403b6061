"""Flash a MicroPython firmware image onto an ESP32 board through esptool's library API.

What `flash_board` does, in order, refusing early with one clear message when something does
not match:
1. read the image header (ESP image magic 0xE9, the extended header's chip ID) and check it is
   a whole firmware (bootloader first) for the board profile's chip, and that it fits its flash;
2. connect (esptool `detect_chip`, default reset) and check the chip found is the profile's and
   the image's;
3. run the flasher stub, attach the SPI flash, optionally erase it all;
4. write the image compressed at the chip's bootloader offset (0x1000 on ESP32 and ESP32-S2,
   0x0 on ESP32-S3/C3/C6/H2/C2, 0x2000 on ESP32-C5/P4) with a progress bar when wanted;
5. verify the flash against the image (MD5 over the written range), hard-reset the board.

Between 3 and 4, for an image built with ROMFS (`romfs.firmware_has_romfs`: it names
vfs.rom_ioctl) and unless `romfs=False`: when the image covers the partition table at 0x8000, the
table inside the image gets a 256 KB "romfs" data partition carved from the end of "vfs"
(`retrorun.provision.partition_table.with_romfs`), so MicroPython can run .mpy files in place from
flash. The modified bytes are what is written and verified. A stock download (no esp32 board
enables ROMFS in MicroPython 1.25-1.28) is written as it is: a romfs partition would take space
from the user's filesystem for nothing, and changing the table erases that filesystem.

Image header facts (ESP-IDF `esp_image_header_t`, 24 bytes): magic (0), segment count (1),
SPI mode (2), flash size/frequency nibbles (3), entry address (4-7), WP pin (8), SPI pin drive
(9-11), chip ID uint16 LE (12-13), min revision (14), min/max full revision uint16 (15-18),
reserved (19-22), hash appended (23). The first segment header (load address, length) follows;
an application image (one meant for 0x10000) starts its first segment with the app descriptor
magic 0xABCD5432.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from esptool.cmds import (
    attach_flash,
    detect_chip,
    erase_flash,
    reset_chip,
    run_stub,
    verify_flash,
    write_flash,
)
from esptool.util import FatalError
from serial import SerialException

from retrorun.errors import RetrorunError
from retrorun.provision import partition_table
from retrorun.provision.chips import BY_IMAGE_ID, Chip, chip_by_name
from retrorun.provision.esp_image import (
    APP_DESC_MAGIC,
    CHECKSUM_SEED,
    ESP_IMAGE_MAGIC,
    IMAGE_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
)
from retrorun.provision.partition_table import Partition
from retrorun.provision.romfs import firmware_has_romfs

# Transfer rates esptool can ask the ROM loader / stub for (the stub tops out near 5 Mbaud).
SECTOR = 0x1000  # the SPI flash erase sector
MIN_BAUD = 9600
MAX_BAUD = 5_000_000


@dataclass(frozen=True)
class ImageHeader:
    chip_id: int
    chip: Chip | None
    segments: int
    flash_mode: int
    flash_size_code: int
    entry: int
    min_rev_full: int
    max_rev_full: int
    is_app: bool

    @property
    def chip_title(self) -> str:
        return self.chip.title if self.chip else f"unknown chip (image chip ID {self.chip_id})"


def parse_image_header(data: bytes, name: str = "image") -> ImageHeader:
    """The fields of an ESP image header; RetrorunError if `data` is not an ESP image."""
    if len(data) < IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE:
        raise RetrorunError(f"{name} is {len(data)} bytes, too short for an ESP32 firmware "
                            "image; pass the MicroPython .bin from micropython.org/download")
    if data[0] != ESP_IMAGE_MAGIC:
        raise RetrorunError(f"{name} does not start with the ESP image magic byte 0xE9 "
                            f"(found 0x{data[0]:02X}); it is not an ESP32 firmware .bin "
                            "(a .uf2, .elf or .hex will not do)")
    segments, flash_mode, size_freq, entry = struct.unpack_from("<BBBI", data, 1)
    chip_id, _min_rev, min_full, max_full = struct.unpack_from("<HBHH", data, 12)
    is_app = False
    if len(data) >= IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE + 4:
        (magic,) = struct.unpack_from("<I", data, IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE)
        is_app = magic == APP_DESC_MAGIC
    return ImageHeader(chip_id, BY_IMAGE_ID.get(chip_id), segments, flash_mode,
                       size_freq >> 4, entry, min_full, max_full, is_app)


def check_image(header: ImageHeader, name: str, board_chip: Chip | None,
                who: str = "the board") -> Chip:
    """The chip the image is for, after refusing an app-only image or another chip's image."""
    if header.chip is None:
        raise RetrorunError(f"{name} is for an {header.chip_title}, which retrorun cannot "
                            "flash; use the MicroPython .bin for your board")
    if header.is_app:
        raise RetrorunError(
            f"{name} is an application image (it goes at 0x10000 behind a bootloader), not a "
            f"whole firmware; use the MicroPython .bin for {header.chip.micropython_board} from "
            "micropython.org/download, which starts with the bootloader")
    if board_chip is not None and header.chip != board_chip:
        raise RetrorunError(
            f"{name} is a firmware for {header.chip.title}, but {who} is an {board_chip.title}; "
            f"use the {board_chip.micropython_board} build (or the right --board)")
    return header.chip


def make_image(chip: Chip, payload: bytes, *, app: bool = False,
               load_address: int = 0x3FFB0000, entry: int = 0x40080400) -> bytes:
    """A minimal valid ESP image for `chip` with one segment holding `payload`.

    For tests and the virtual board: header (DIO, 40 MHz, 4 MB), extended header with the
    chip ID, one segment (padded to 4 bytes), the XOR-0xEF checksum in the last byte of a
    16-byte block, then the appended SHA-256. `app=True` starts the segment with the app
    descriptor magic, as an application image does.
    """
    body = (struct.pack("<I", APP_DESC_MAGIC) if app else b"") + payload
    body += b"\x00" * (-len(body) % 4)
    out = bytearray(struct.pack("<BBBBI", ESP_IMAGE_MAGIC, 1, 2, 0x20, entry))
    out += struct.pack("<B3sHBHH4sB", 0xEE, b"\x00\x00\x00", chip.image_chip_id, 0, 0,
                       0xFFFF, b"\x00" * 4, 1)
    out += struct.pack("<II", load_address, len(body)) + body
    checksum = CHECKSUM_SEED
    for byte in body:
        checksum ^= byte
    out += b"\x00" * (15 - len(out) % 16)
    out.append(checksum)
    out += hashlib.sha256(out).digest()
    return bytes(out)


# -- esptool output: collected, with a rich progress bar for people at a terminal ---------------

class _Progress:
    """A rich progress bar driven by esptool's progress hook."""

    def __init__(self) -> None:
        self._progress = None
        self._task = None

    def update(self, current: int, total: int, label: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from retrorun.cli.output import console

        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      DownloadColumn(), TimeRemainingColumn(), console=console,
                                      transient=True)
            self._progress.start()
            self._task = self._progress.add_task(label, total=total)
        self._progress.update(self._task, completed=current, total=total, description=label)
        if current >= total:
            self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _make_logger(lines: list[str], progress: _Progress | None):
    from esp_pylib.logger import EspLogBase

    class RetrorunEspLog(EspLogBase):
        """esptool's messages go into `lines` (shown on failure); progress to a rich bar."""

        def print(self, *args, **kwargs) -> None:
            text = " ".join(str(a) for a in args).strip()
            if text:
                lines.append(text)

        def note(self, *args) -> None:
            self.print("Note:", *args)

        def hint(self, *args) -> None:
            self.print("Hint:", *args)

        def warn(self, *args, suggestion=None) -> None:
            self.print("Warning:", *args)

        def err(self, *args, suggestion=None) -> None:
            self.print("Error:", *args)

        def debug(self, *args) -> None:
            pass

        def set_verbosity(self, mode) -> None:
            pass

        def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
            if progress is not None and total_iters:
                progress.update(cur_iter, total_iters, prefix.strip() or "Writing")

    return RetrorunEspLog()


@contextlib.contextmanager
def _esptool_logging(lines: list[str], show_progress: bool) -> Iterator[None]:
    try:
        from esp_pylib.logger import EspLog
    except ImportError:  # esptool before it used esp-pylib: keep esptool's own output
        yield
        return
    previous = EspLog.instance
    progress = _Progress() if show_progress else None
    EspLog.set_logger(_make_logger(lines, progress))
    try:
        yield
    finally:
        if progress is not None:
            progress.close()
        EspLog.instance = previous


# -- the job ----------------------------------------------------------------------------------

@dataclass
class FlashResult:
    port: str
    chip: str
    image_bytes: int
    offset: int
    erased: bool
    verified: bool
    romfs: Partition | None = None  # the romfs partition added to the image's table, if any
    romfs_build: bool = False  # whether the image's MicroPython has ROMFS (vfs.rom_ioctl)


def _is_url(port: str) -> bool:
    return "://" in port


def flash_board(port: str, image: bytes | Callable[[Chip], tuple[bytes, str]], *,
                image_name: str = "image", board_chip: Chip | None = None,
                board_name: str | None = None, flash_size_mb: int | None = None,
                erase: bool = False, verify: bool = True, baud: int | None = None,
                show_progress: bool = False, romfs: bool = True,
                report: Callable[[str], None] = lambda _msg: None,
                confirm_erase: Callable[[str], bool] = lambda _what: True) -> FlashResult:
    """Flash `image` (bytes, or a function giving (bytes, name) for the detected chip).

    `board_chip`/`board_name`/`flash_size_mb` come from the board profile when there is one.
    `baud`: the rate for the transfer after the stub runs (None: 460800 on a device path,
    no change on a pyserial URL such as socket:// or rfc2217://).
    `romfs`: add a "romfs" partition to the image's partition table when the image's
    MicroPython can use one (see `add_romfs`); an image without ROMFS is always written as it is.
    `confirm_erase(what)`: asked, before anything is written, when flashing would erase files
    the board holds (`--erase`, or a partition table that changes over a filesystem with
    something in it); `what` says what goes. False, or an exception, stops: the board is reset
    into its old firmware unchanged and a RetrorunError (or that exception) is raised.
    """
    if baud is not None and not MIN_BAUD <= baud <= MAX_BAUD:
        raise RetrorunError(f"--baud {baud} is out of range; give {MIN_BAUD}-{MAX_BAUD} "
                            "(460800 suits most boards)")
    if isinstance(image, bytes):
        check_image(parse_image_header(image, image_name), image_name, board_chip,
                    f"board '{board_name}'" if board_name else "the board")

    lines: list[str] = []
    with _esptool_logging(lines, show_progress):
        try:
            report(f"Connecting to {port}...")
            esp = detect_chip(port, connect_mode="default-reset")
        except (FatalError, SerialException, OSError, ValueError) as exc:  # ValueError: bad URL
            raise RetrorunError(f"no ESP32 bootloader answered on {port} ({_one_line(exc)}); "
                                "check the port, hold BOOT while pressing EN/RESET, or close "
                                "other programs using the port") from exc
        try:
            with esp:
                return _flash_connected(esp, port, image, image_name, board_chip, board_name,
                                        flash_size_mb, erase, verify, baud, show_progress,
                                        romfs, report, confirm_erase)
        except RetrorunError:
            raise
        except (FatalError, SerialException, OSError) as exc:
            tail = f" (last esptool message: {lines[-1]})" if lines else ""
            raise RetrorunError(f"flashing {port} failed: {_one_line(exc)}{tail}; reset the "
                                "board into the bootloader and try again") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _flash_connected(esp, port, image, image_name, board_chip, board_name, flash_size_mb,
                     erase, verify, baud, show_progress, romfs, report,
                     confirm_erase) -> FlashResult:
    detected = chip_by_name(esp.CHIP_NAME)
    report(f"Found {detected.title} on {port}")
    if board_chip is not None and detected != board_chip:
        raise RetrorunError(
            f"the board on {port} is an {detected.title}, but board profile '{board_name}' is "
            f"for {board_chip.title}; pass --board with a profile for {detected.name}")
    if not isinstance(image, bytes):
        image, image_name = image(detected)
    header = parse_image_header(image, image_name)
    check_image(header, image_name, detected, f"the board on {port}")
    offset = detected.bootloader_offset
    if flash_size_mb is not None and offset + len(image) > flash_size_mb * 1024 * 1024:
        raise RetrorunError(f"{image_name} ({len(image)} bytes at 0x{offset:X}) does not fit "
                            f"in the board's {flash_size_mb} MB flash")
    added = None
    romfs_build = firmware_has_romfs(image)
    if romfs and romfs_build:
        image, added = add_romfs(image, offset, image_name, report)
    elif romfs:
        report(f"{image_name} has no ROMFS support (built without MICROPY_VFS_ROM, as every "
               "esp32 download on micropython.org): partition table left as it is; "
               "'retrorun deploy' puts the firmware in /lib as .mpy files")

    esp = run_stub(esp)
    if baud is None and not _is_url(port):
        baud = 460800
    if baud is not None and baud != esp._port.baudrate:
        esp.change_baud(baud)
    attach_flash(esp)
    files = _files_on_board(esp)
    fresh = None if erase else _new_filesystem(esp, image, offset)
    if files is not None and (erase or fresh is not None):
        what = ("--erase erases the whole flash" if erase else
                "the partition table changes, so the filesystem starts empty")
        _ask(esp, confirm_erase, f"{what}: the files on the board (sessions, settings, in "
                                 f"'{files.label}' at 0x{files.offset:X}) are lost")
    if erase:
        report("Erasing the whole flash...")
        erase_flash(esp)
    elif fresh is not None:
        report(f"The partition table changes: erasing the start of the filesystem partition "
               f"('{fresh.label}' at 0x{fresh.offset:X}) so that MicroPython formats it at "
               "first boot; files and sessions left on the board are lost")
        esp.erase_region(fresh.offset, SECTOR)
    report(f"Writing {len(image)} bytes at 0x{offset:X} (compressed)...")
    write_flash(esp, [(offset, image)], compress=True, no_progress=not show_progress)
    if verify:
        report("Verifying...")
        verify_flash(esp, [(offset, image)])
    reset_chip(esp, "hard-reset")
    return FlashResult(port, detected.name, len(image), offset, erase, verify, added,
                       romfs_build)


def _ask(esp, confirm_erase: Callable[[str], bool], what: str) -> None:
    """Ask before erasing the board's files; on no (or an exception) leave the board running
    its old firmware."""
    try:
        go = confirm_erase(what)
    except BaseException:
        reset_chip(esp, "hard-reset")
        raise
    if not go:
        reset_chip(esp, "hard-reset")
        raise RetrorunError("stopped before writing: nothing on the board changed (it was "
                            "reset into its old firmware)")


def _files_on_board(esp) -> Partition | None:
    """The board's filesystem partition when it holds something (its first sector is not
    erased), from the partition table in its flash; None when there is nothing to lose."""
    try:
        parts = partition_table.decode(esp.read_flash(partition_table.TABLE_OFFSET,
                                                      partition_table.TABLE_SIZE))
    except ValueError:
        return None  # no valid table: no filesystem MicroPython would mount
    fs = partition_table.filesystem(parts)
    if fs is None or esp.read_flash(fs.offset, SECTOR) == b"\xff" * SECTOR:
        return None
    return fs


def _new_filesystem(esp, image: bytes, offset: int) -> Partition | None:
    """When the partition table the image brings differs from the board's, its filesystem
    partition, whose first sector must be erased: the old filesystem no longer fits its
    partition, and MicroPython's first boot (`inisetup`) formats a partition only when its
    first sector is blank; otherwise it stops in a "filesystem appears to be corrupted" loop."""
    start = partition_table.TABLE_OFFSET - offset
    end = start + partition_table.TABLE_SIZE
    if start < 0 or len(image) < end:
        return None  # the image does not bring a table
    new_table = image[start:end]
    try:
        parts = partition_table.decode(new_table)
    except ValueError:
        return None  # checked by add_romfs when it matters; a blank region brings nothing
    if not parts:
        return None
    if esp.read_flash(partition_table.TABLE_OFFSET, partition_table.TABLE_SIZE) == new_table:
        return None  # same layout: the board's filesystem and sessions stay
    return partition_table.filesystem(parts)


def add_romfs(image: bytes, offset: int, image_name: str = "image",
              report: Callable[[str], None] = lambda _msg: None,
              size: int = partition_table.ROMFS_SIZE) -> tuple[bytes, Partition | None]:
    """`image` (written at flash `offset`) with a romfs partition in its table, and that partition.

    Returns the image unchanged and None, after one `report` line saying why, when the image
    does not cover the table at TABLE_OFFSET, holds no table there, already has a romfs
    partition, or its table has no vfs/ffat partition big enough. A table that is there but
    damaged (bad magic or MD5) is a RetrorunError: such an image would not boot.
    """
    start = partition_table.TABLE_OFFSET - offset
    end = start + partition_table.TABLE_SIZE
    if start < 0 or len(image) < end:
        return image, None  # not a whole firmware reaching the table: nothing to change
    region = image[start:end]
    if region == b"\xff" * len(region):
        report(f"No partition table at 0x{partition_table.TABLE_OFFSET:X} in {image_name}; "
               "writing it unchanged (no romfs partition)")
        return image, None
    try:
        parts = partition_table.decode(region)
    except ValueError as exc:
        raise RetrorunError(
            f"the partition table in {image_name} (at 0x{partition_table.TABLE_OFFSET:X}) is "
            f"not valid: {exc}; download the image again, or pass --no-romfs to write it as "
            "it is") from exc
    existing = partition_table.find(parts, partition_table.ROMFS_LABEL)
    if existing is not None:
        report(f"{image_name} already has a romfs partition ({existing.size // 1024} KB at "
               f"0x{existing.offset:X}); partition table unchanged")
        return image, None
    try:
        new_parts = partition_table.with_romfs(parts, size)
    except ValueError as exc:
        report(f"No romfs partition added: {exc}; writing {image_name} unchanged")
        return image, None
    added = new_parts[-1]
    out = image[:start] + partition_table.encode(new_parts) + image[end:]
    report(f"Partition table: romfs {added.size // 1024} KB at 0x{added.offset:X} taken from "
           "the end of the filesystem partition (a board with another table gets a new, empty "
           "filesystem: sync sessions first)")
    return out, added


def read_image(path: str | Path) -> bytes:
    """The bytes of an image file, with a one-line error when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise RetrorunError(f"cannot read image {path}: {exc.strerror}") from exc
