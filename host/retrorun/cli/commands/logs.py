"""`retrorun logs decode FILE [--json]` and `retrorun logs check FILE [--json]`: read a raw
session file copied off a device, salvage every good record, and report the damage.

Damaged input (a damaged region or a torn tail) still prints every good record, then exits
with status 1 and one line `retrorun: FILE: ...` naming the damage."""

from __future__ import annotations

import sys
from pathlib import Path

from retrorun.cli import output
from retrorun.errors import RetrorunError
from retrorun.sessions import logs


def register(sub) -> None:
    parser = sub.add_parser("logs", help="decode or check a raw session log file",
                            description="Read a raw session file (.rrl) as the device wrote it.")
    logs_sub = parser.add_subparsers(metavar="ACTION", required=True)
    decode = logs_sub.add_parser("decode", help="print every record of a session file",
                                 description="Print every valid record; damaged bytes are "
                                             "skipped and reported (exit status 1).")
    decode.add_argument("file", type=Path)
    decode.add_argument("--json", action="store_true",
                        help='one JSON object: {"file", "records": [...], "problems": [...]}')
    decode.set_defaults(func=run_decode)
    check = logs_sub.add_parser("check", help="report good records, torn tail, damaged regions",
                                description="Check a session file's integrity.")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="machine-readable report")
    check.set_defaults(func=run_check)


def _fail_if_damaged(path: Path, decoded: logs.Decoded) -> int:
    if decoded.damaged:
        raise RetrorunError(f"{path}: {decoded.problem_line()}; every good record was decoded "
                            f"({len(decoded.records)} records)")
    return 0


def _refuse_if_not_a_log(path: Path, decoded: logs.Decoded) -> None:
    """A file with no valid frame is not a damaged log: say what it is (after the JSON
    document, which says "session_log": false)."""
    why = logs.not_a_log(path, decoded)
    if why:
        raise RetrorunError(why)


def run_decode(args) -> int:
    decoded = logs.decode_file(args.file)
    if args.json:
        output.emit_json({"file": str(args.file), "session_log": decoded.frames > 0,
                          "records": decoded.records, "problems": decoded.problems})
    _refuse_if_not_a_log(args.file, decoded)
    if not args.json:
        write = sys.stdout.write
        for record in decoded.records:
            write(logs.describe_record(record) + "\n")
        sys.stdout.flush()
    return _fail_if_damaged(args.file, decoded)


def run_check(args) -> int:
    decoded = logs.decode_file(args.file)
    report = logs.check_report(decoded)
    if args.json:
        output.emit_json({"file": str(args.file), "session_log": decoded.frames > 0, **report})
    _refuse_if_not_a_log(args.file, decoded)
    if not args.json:
        kinds = ", ".join(f"{n} {k}" for k, n in report["by_kind"].items())
        output.console.print(f"{args.file}: {report['bytes']} bytes, {report['frames']} valid "
                             f"frames ({kinds})")
        output.console.print(
            "session " + (str(report["session_id"]) if report["has_header"] else "?")
            + (": complete" if report["complete"] else ": no footer (not closed)")
            + (" (footer written by boot recovery)" if report["recovered"] else ""))
        for region in report["damaged"]:
            output.console.print(f"[red]damaged[/]: {region['length']} bytes at offset "
                                 f"{region['offset']}")
        if report["torn_tail"]:
            t = report["torn_tail"]
            output.console.print(f"[red]torn tail[/]: {t['length']} bytes at offset "
                                 f"{t['offset']}")
        if report["ok"]:
            output.console.print("[green]no damage[/]")
    return _fail_if_damaged(args.file, decoded)
