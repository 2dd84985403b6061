"""`retrorun export SESSION --format csv|json|fit -o FILE [--store PATH]`."""

from __future__ import annotations

from pathlib import Path

from retrorun.cli import output
from retrorun.sessions.export import FORMATS, export_session
from retrorun.sessions.store import Store


def register(sub) -> None:
    parser = sub.add_parser("export", help="export a session as CSV, JSON or FIT")
    parser.add_argument("session", help="session key, its number, or 'last'")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                        help="file to write, or - for stdout (FIT too: binary)")
    parser.add_argument("--store", help="store file (default: the user data directory)")
    parser.set_defaults(func=run)


def run(args) -> int:
    with Store(args.store, create=False) as store:
        key = store.resolve(args.session)
        size = export_session(store, key, args.format, args.output)
    if str(args.output) == "-":
        return 0  # stdout holds the export and nothing else
    output.console.print(f"wrote {args.output} ({args.format}, {size} bytes) for {key}")
    return 0
