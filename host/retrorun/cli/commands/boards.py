"""`retrorun boards [--json]` and `retrorun boards check FILE`: the board profiles."""

from __future__ import annotations

from pathlib import Path

from retrorun.cli import output
from retrorun.provision.boards import all_boards, load_profile


def register(sub) -> None:
    parser = sub.add_parser("boards", help="list the board profiles, or check a profile file",
                            description="List the shipped board profiles with their parts, or "
                                        "validate a profile file (pins valid for the chip, "
                                        "input-only pins never driven, strapping pins flagged).")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run_list)
    boards_sub = parser.add_subparsers(metavar="ACTION")
    check = boards_sub.add_parser("check", help="validate a board profile file")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=run_check)


def _summary(board) -> dict:
    p = board.profile
    return {
        "name": board.name,
        "title": p["title"],
        "chip": p["chip"],
        "flash_size_mb": p["flash_size_mb"],
        "distance": p["distance"]["kind"],
        "haptic": p["haptic"]["kind"],
        "imu": p["imu"]["kind"],
        "warnings": list(board.warnings),
    }


def run_list(args) -> int:
    boards = [_summary(b) for b in all_boards().values()]
    if args.json:
        output.emit_json({"boards": boards})
        return 0
    output.table("Board profiles", ("name", "chip", "flash", "distance", "haptic", "imu"),
                 [(b["name"], b["chip"], f"{b['flash_size_mb']} MB", b["distance"], b["haptic"],
                   b["imu"]) for b in boards])
    for b in boards:
        for warning in b["warnings"]:
            output.console.print(f"[yellow]warning[/]: {warning}")
    return 0


def run_check(args) -> int:
    board = load_profile(args.file)
    if args.json:
        output.emit_json({"name": board.name, "valid": True, "warnings": list(board.warnings)})
        return 0
    output.console.print(f"{args.file}: board '{board.name}' is valid")
    for warning in board.warnings:
        output.console.print(f"[yellow]warning[/]: {warning}")
    return 0
