"""`retrorun steps eval DIR [--json] [--rate HZ] [--runtime micropython|cpython] [--reverse]
[--cv subject|dataset]`."""

from __future__ import annotations

from pathlib import Path

from retrorun.cli import output
from retrorun.devtools.steps_eval import CV_MODES, RUNTIMES, evaluate


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
    ev.add_argument("--reverse", action="store_true",
                    help="also play every recording backward in time (must count the same)")
    ev.add_argument("--cv", choices=CV_MODES, default=None,
                    help="cross-validate: leave one subject (or one dataset) out, tune the "
                         "counter's tuned parameters on the rest, count the held-out one")
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
        doc = evaluate(args.dir, rate_hz=args.rate, runtime=args.runtime, progress=progress,
                       reverse=args.reverse, cv=args.cv)
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
    _summary_table("Summary (dev: the counter as it is)", doc["summary"])
    if "reverse" in doc:
        _summary_table("Played backward in time", doc["reverse"]["summary"])
    if "cv" in doc:
        cv = doc["cv"]
        tuned = ", ".join(cv["tuned"]) or "no tuned parameter: equal to the dev figures"
        _summary_table(f"Cross-validated, leave one {cv['mode']} out ({tuned})", cv["summary"])
        if "reverse" in cv:
            _summary_table("Cross-validated, played backward", cv["reverse"]["summary"])
    summary = doc["summary"]
    output.console.print(f"{summary['files']} recordings in {doc['seconds']:.1f} s; precision "
                         "and recall: detected steps within 250 ms of a true step")
    return 0


def _summary_table(title: str, summary: dict) -> None:
    rows = []
    parts = [*summary["groups"].items(), *summary["positions"].items(), ("all", summary)]
    for name, s in parts:
        timing = s.get("timing") or {}
        rows.append((name, s["files"], s["truth"], s["counted"], _pct(s["total_error_pct"]),
                     _pct(s["mape_pct"]), _pct(s["median_ape_pct"]),
                     _pct(timing.get("precision_pct")), _pct(timing.get("recall_pct")),
                     _pct(s.get("vs_forward_pct"))))
    output.table(title, ("group / position", "files", "truth", "counted", "total err %",
                         "MAPE %", "median APE %", "precision %", "recall %",
                         "vs forward %"), rows)
