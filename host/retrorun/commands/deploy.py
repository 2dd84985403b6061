"""`retrorun deploy [--port P] [--board B] [--json]`: push the firmware and board profile."""

from __future__ import annotations

from retrorun import output
from retrorun.boards import get_board
from retrorun.connect import add_link_arguments, open_transport


def register(sub) -> None:
    parser = sub.add_parser("deploy", help="compile and upload the firmware, board profile and "
                                           "default config")
    add_link_arguments(parser, ble=False)
    parser.add_argument("--board", "-b", default="esp32-devkitc",
                        help="board profile name or file (default: esp32-devkitc)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.deploy import deploy

    board = get_board(args.board)
    progress = None
    if output.show_progress(args.json):
        def progress(path: str, index: int, total: int) -> None:
            output.console.print(f"\r[{index}/{total}] {path:<40}", end="")

    with open_transport(args) as transport:
        report = deploy(transport, board, progress=progress)
    if args.json:
        output.emit_json({"board": board.name, "firmware": report.version,
                          "uploaded": report.uploaded, "unchanged": report.unchanged,
                          "config_written": report.config_written})
        return 0
    if progress:
        output.console.print()
    output.console.print(f"deployed firmware {report.version} for {board.name}: "
                         f"{len(report.uploaded)} files uploaded, {len(report.unchanged)} "
                         "unchanged" + (", default config written" if report.config_written
                                        else ""))
    return 0
