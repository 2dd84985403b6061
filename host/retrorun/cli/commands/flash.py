"""`retrorun flash`: put MicroPython on a board (esptool library API, see
retrorun.provision.flash)."""

from __future__ import annotations

import sys
from pathlib import Path

from retrorun.cli import output
from retrorun.errors import RetrorunError
from retrorun.link import devices


class SyncFirst(Exception):
    """The user asked to sync sessions before the board's files are erased."""


def _confirm_erase(args, port: str):
    def confirm(what: str) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise RetrorunError(f"not flashing: {what}, and stdin is not a terminal to ask; "
                                f"sync sessions first ('retrorun sync --port {port}'), then "
                                "pass --yes to flash")
        output.err_console.print(f"{what}.", markup=False, soft_wrap=True)
        output.err_console.print("Sync sessions first [s], erase and flash [y], or stop [N]? ",
                                 end="", markup=False)
        answer = sys.stdin.readline().strip().lower()
        if answer in ("s", "sync"):
            raise SyncFirst
        return answer in ("y", "yes")
    return confirm


def _sync(port: str, report) -> None:
    """Copy the board's new sessions into the default store (the board runs its old firmware
    again: flash_board reset it)."""
    from retrorun.link.serial_transport import SerialTransport
    from retrorun.sessions.store import Store
    from retrorun.sessions.sync import pull_sessions

    report(f"Syncing sessions from {port} first...")
    with Store(None) as store, SerialTransport(port) as transport:
        result = pull_sessions(transport, store)
    report(f"{len(result.stored)} new sessions stored, {len(result.already)} already there"
           + (f"; still recording: {result.skipped_recording[0]} (not synced)"
              if result.skipped_recording else ""))


def register(sub) -> None:
    parser = sub.add_parser(
        "flash", help="flash MicroPython onto an ESP32 board",
        description="Detect the chip, refuse an image or board profile for another chip, "
                    "optionally erase the flash, write the image compressed and verify it. "
                    "--image takes a MicroPython .bin (bootloader included, as on "
                    "micropython.org/download); --version downloads the official build for the "
                    "board profile over HTTPS into the cache and checks the image's own "
                    "SHA-256 and app descriptor (chip, version) before writing. An image built "
                    "with ROMFS (a custom build; no micropython.org download for the esp32 has "
                    "it) gets a 256 KB 'romfs' partition taken from the end of 'vfs' in its "
                    "partition table, unless --no-romfs; other images are written as they "
                    "are. When the table changes, the start of the "
                    "filesystem partition is erased so MicroPython formats it at first boot. "
                    "Before erasing files the board holds (--erase, or a new partition table) "
                    "it asks, offering to sync sessions first; without a terminal it refuses "
                    "unless --yes.")
    parser.add_argument("--port", help="serial port or pyserial URL (default: the one "
                                       "ESP32-looking port, see `retrorun devices`)")
    parser.add_argument("--board", help="board profile name or file (see `retrorun boards`)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, help="firmware .bin to write")
    source.add_argument("--version", dest="mp_version", metavar="V",
                        help="official MicroPython version to fetch, e.g. 1.27.0")
    parser.add_argument("--firmware-url", metavar="URL",
                        help="site to download --version builds from, for a mirror or a test "
                             "server (default: $RETRORUN_FIRMWARE_BASE or "
                             "https://micropython.org; https:// only)")
    parser.add_argument("--firmware-ca", metavar="FILE",
                        help="PEM file of the CA certificates to trust for --firmware-url "
                             "(default: $RETRORUN_FIRMWARE_CA or the system's)")
    parser.add_argument("--erase", action="store_true", help="erase the whole flash first "
                                                            "(removes the board's files)")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="erase the board's files without asking when flashing must")
    parser.add_argument("--no-verify", action="store_true", help="skip the read-back check")
    parser.add_argument("--no-romfs", action="store_true",
                        help="keep the image's partition table even when its MicroPython "
                             "has ROMFS (no 256 KB romfs partition carved from the end of vfs)")
    parser.add_argument("--baud", type=int, help="transfer baud rate (default 460800 on a "
                                                 "serial device, unchanged on a URL)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.provision import chips, flash
    from retrorun.provision.boards import get_board
    from retrorun.provision.firmware_fetch import fetch_firmware

    board_chip = board_name = flash_size = None
    mp_board = None
    if args.board:
        board = get_board(args.board)
        board_name = board.name
        board_chip = chips.chip_by_name(board.profile["chip"])
        flash_size = board.profile.get("flash_size_mb")
        mp_board = board.profile.get("micropython", {}).get("board")

    image: bytes | object
    if args.image is not None:
        image, image_name = flash.read_image(args.image), args.image.name
    elif mp_board is not None:
        path = fetch_firmware(board_chip, mp_board, args.mp_version, base=args.firmware_url,
                              ca_file=args.firmware_ca)
        image, image_name = path.read_bytes(), path.name
    else:
        def image(chip):  # the build for whatever chip answers
            path = fetch_firmware(chip, chip.micropython_board, args.mp_version,
                                  base=args.firmware_url, ca_file=args.firmware_ca)
            return path.read_bytes(), path.name
        image_name = "image"

    port = devices.pick_port(args.port)
    quiet = args.json

    def report(message: str) -> None:
        if not quiet:
            output.console.print(message)

    def flash_it(confirm):
        return flash.flash_board(
            port, image, image_name=image_name, board_chip=board_chip, board_name=board_name,
            flash_size_mb=flash_size, erase=args.erase, verify=not args.no_verify,
            baud=args.baud, show_progress=output.show_progress(args.json),
            romfs=not args.no_romfs, report=report, confirm_erase=confirm)

    try:
        result = flash_it(_confirm_erase(args, port))
    except SyncFirst:
        _sync(port, report)
        result = flash_it(lambda _what: True)  # the user said to erase once synced
    romfs = result.romfs
    if args.json:
        output.emit_json({"port": result.port, "chip": result.chip,
                          "image_bytes": result.image_bytes, "offset": result.offset,
                          "erased": result.erased, "verified": result.verified,
                          "romfs_build": result.romfs_build,
                          "romfs": None if romfs is None else {"offset": romfs.offset,
                                                                "size": romfs.size}})
    else:
        checked = "written and verified" if result.verified else "written (not verified)"
        output.console.print(f"{result.image_bytes} bytes {checked} at 0x{result.offset:X} on "
                             f"the {chips.chip_by_name(result.chip).title} on {result.port}; "
                             "the board was reset.")
        if romfs is not None:
            output.console.print(
                f"romfs partition: {romfs.size // 1024} KB at 0x{romfs.offset:X}, taken from "
                "vfs: a board that had another partition table starts with an empty "
                "filesystem, so sync sessions before re-flashing (--no-romfs keeps the "
                "image's table).")
    return 0
