"""`retrorun demo [--store PATH] [--plot FILE] [--json]`: the whole path on a virtual board."""

from __future__ import annotations

from pathlib import Path

from retrorun.cli import output


def register(sub) -> None:
    parser = sub.add_parser("demo", help="end to end on a virtual board: deploy, run, sync, "
                                         "report, plot",
                            description="Start a virtual ESP32 board, deploy the firmware, run "
                                        "a backward run with obstacles through the real "
                                        "firmware, sync the session, print the report and "
                                        "write the plot.")
    parser.add_argument("--store", type=Path, help="store file (default: a new temporary one)")
    parser.add_argument("--plot", type=Path, default=Path("retrorun-demo.png"),
                        help="PNG to write (default: retrorun-demo.png)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.cli.commands.report import print_report
    from retrorun.devtools.demo import run_demo

    say = (lambda _text: None) if args.json else output.console.print
    report = run_demo(args.store, args.plot, say=say).report
    if args.json:
        output.emit_json(report)
    else:
        output.console.print()
        print_report(report)
    return 0
