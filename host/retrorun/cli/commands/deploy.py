"""`retrorun deploy [--port P] [--board B] [--layout auto|romfs|files] [--json]`: push the
firmware and board profile (the layouts: retrorun.provision.deploy)."""

from __future__ import annotations

from retrorun.cli import output
from retrorun.link.connect import add_link_arguments, open_repl
from retrorun.provision.boards import get_board


def register(sub) -> None:
    parser = sub.add_parser("deploy", help="compile and upload the firmware, board profile and "
                                           "default config")
    add_link_arguments(parser, ble=False)
    parser.add_argument("--board", "-b", default="esp32-devkitc",
                        help="board profile name or file (default: esp32-devkitc)")
    parser.add_argument("--layout", choices=("auto", "romfs", "files"), default="auto",
                        help="where the firmware goes: a ROMFS image run in place from flash "
                             "(needs the romfs partition 'retrorun flash' makes), .mpy files "
                             "in /lib, or auto: romfs when the board has the partition "
                             "(default)")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="do not ask before ending a session being recorded (deploy stops "
                             "the app)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.provision.deploy import deploy

    board = get_board(args.board)
    with open_repl(args, "deploy") as transport, output.progress(args.json, unit="items") as bar:
        def progress(what: str, done: int, total: int) -> None:
            # deploy reports the ROMFS image by blocks ("romfs (N bytes)"), then file by file
            if what.startswith("romfs"):
                bar("romfs image", done, total, what)
            else:
                bar("files", done, total, what)

        report = deploy(transport, board, progress=progress if bar else None,
                        layout=args.layout)
    if args.json:
        output.emit_json({"board": board.name, "firmware": report.version,
                          "layout": report.layout, "romfs_bytes": report.romfs_bytes,
                          "romfs_written": report.romfs_written, "removed": report.removed,
                          "uploaded": report.uploaded, "unchanged": report.unchanged,
                          "config_written": report.config_written, "note": report.note})
        return 0
    where = (f"ROMFS image of {report.romfs_bytes} bytes "
             + ("written" if report.romfs_written else "unchanged")
             + (f", {report.removed} old firmware files removed" if report.removed else "")
             + "; " if report.layout == "romfs" else "")
    output.console.print(f"deployed firmware {report.version} for {board.name}: {where}"
                         f"{len(report.uploaded)} files uploaded, {len(report.unchanged)} "
                         "unchanged" + (", default config written" if report.config_written
                                        else ""), soft_wrap=True)
    if report.note:
        output.console.print(f"note: {report.note}; the firmware runs from .mpy files in /lib, "
                             "which takes ~40 KB more heap (retrorun bench heap)",
                             soft_wrap=True, markup=False)
    return 0
