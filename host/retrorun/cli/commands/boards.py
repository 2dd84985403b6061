"""`retrorun boards [--json]` and `retrorun boards check FILE`: the board profiles."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from retrorun.cli import output
from retrorun.errors import RetrorunError
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


# What to do about each kind of problem the validator (retrofw.boardcheck) reports, by the words
# its message contains; a message that already says what to do needs no entry.
FIXES = (
    ("missing key", "add it (the shipped profiles in 'retrorun boards' show every key)"),
    ("must be a JSON object", "write it as an object, as in the shipped profiles"),
    ("is not one of", "use one of the values listed"),
    ("'i2c' (sda, scl) is missing", 'add "i2c": {"sda": GPIO, "scl": GPIO}'),
    ("must be a GPIO number", "give the GPIO number as a whole number"),
    ("does not exist on", "use a GPIO the chip has (see the chip's datasheet pin list)"),
    ("is input-only", "move it to a GPIO that can drive an output"),
    ("has no ADC1 channel", "move it to a pin with an ADC1 channel"),
    ("is already used by", "give each signal a GPIO of its own"),
    ("flash_size_mb must be", "set the module's flash size in MB (4, 8 or 16)"),
    ("native USB pin", "move it unless you use the board's UART bridge for USB"),
    ("is not pulse or irq", 'set "timing" to "pulse" or "irq"'),
)


def fix_for(message: str) -> str:
    """What to do about one validator message ('' when it says so itself)."""
    return next((fix for words, fix in FIXES if words in message), "")


def _all_problems(path: Path) -> list[dict] | None:
    """Every problem of a profile that is valid JSON (None when it cannot be read as JSON:
    load_profile's error says why)."""
    import json

    from retrofw import boardcheck

    try:
        profile = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return [{"level": level, "message": message, "fix": fix_for(message)}
            for level, message in boardcheck.check(profile)]


def run_check(args) -> int:
    try:
        board = load_profile(args.file)
    except RetrorunError:
        problems = _all_problems(args.file)
        errors = [p for p in problems or [] if p["level"] == "error"]
        if not errors:
            raise
        if args.json:
            output.emit_json({"name": None, "valid": False, "problems": problems})
        else:
            for p in problems:
                colour = "red" if p["level"] == "error" else "yellow"
                output.console.print(f"[{colour}]{p['level']}[/]: {escape(p['message'])}"
                                     + (f" -> {escape(p['fix'])}" if p["fix"] else ""))
        more = f" (and {len(errors) - 1} more, listed above)" if len(errors) > 1 else ""
        raise RetrorunError(f"board profile {args.file} is invalid: {errors[0]['message']}"
                            f"{more}") from None
    if args.json:
        output.emit_json({"name": board.name, "valid": True, "warnings": list(board.warnings)})
        return 0
    output.console.print(f"{args.file}: board '{board.name}' is valid")
    for warning in board.warnings:
        output.console.print(f"[yellow]warning[/]: {warning}")
    return 0
