"""`retrorun steps eval DIR [--json] [--rate HZ] [--runtime micropython|cpython]`."""

from __future__ import annotations

from pathlib import Path

from retrorun.cli import output
from retrorun.devtools.steps_eval import RUNTIMES, evaluate


def register(sub) -> None:
    parser = sub.add_parser("steps", help="the step counter against recordings with ground truth",
                            description="Step-counter tools (see docs/steps.md).")
    steps_sub = parser.add_subparsers(metavar="ACTION", required=True)
    ev = steps_sub.add_parser(
        "eval", help="count the steps of every recording in DIR with the firmware counter",
        description="Resample every NAME.csv.gz + NAME.json recording in DIR to the device rate, "
                    "run the firmware step counter on it (real MicroPython by default) and "
                    "compare with the ground truth.")
    ev.add_argument("dir", type=Path, help="folder of NAME.csv.gz + NAME.json recordings")
    ev.add_argument("--json", action="store_true", help="machine-readable output")
    ev.add_argument("--rate", type=int, default=50, metavar="HZ",
                    help="device sample rate, 25-100 Hz (default 50, config steps.rate_hz)")
    ev.add_argument("--runtime", choices=RUNTIMES, default="micropython",
                    help="run the counter in real MicroPython (default) or CPython")
    ev.set_defaults(func=run_eval)


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def run_eval(args) -> int:
    progress = None
    bar = None
    if output.show_progress(args.json):
        from rich.progress import Progress

        bar = Progress(console=output.console, transient=True)
        task = bar.add_task(f"counting ({args.runtime})", total=None)
        bar.start()

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

    try:
        doc = evaluate(args.dir, rate_hz=args.rate, runtime=args.runtime, progress=progress)
    finally:
        if bar is not None:
            bar.stop()
    if args.json:
        output.emit_json(doc)
        return 0
    output.table(f"Step counter at {doc['rate_hz']} Hz ({doc['runtime']})",
                 ("recording", "truth", "counted", "error %"),
                 [(f["name"], f["truth"], f["counted"], _pct(f["error_pct"]))
                  for f in doc["files"]])
    rows = []
    summary = doc["summary"]
    for name, s in [*summary["groups"].items(), ("all", summary)]:
        timing = s.get("timing") or {}
        rows.append((name, s["files"], s["truth"], s["counted"], _pct(s["total_error_pct"]),
                     _pct(s["mape_pct"]), _pct(s["median_ape_pct"]),
                     _pct(timing.get("precision_pct")), _pct(timing.get("recall_pct"))))
    output.table("Summary", ("group", "files", "truth", "counted", "total err %", "MAPE %",
                             "median APE %", "precision %", "recall %"), rows)
    output.console.print(f"{summary['files']} recordings in {doc['seconds']:.1f} s; precision "
                         "and recall: detected steps within 250 ms of a true step")
    return 0
