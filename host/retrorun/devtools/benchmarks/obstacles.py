"""`retrorun bench obstacles [--json]`: the deployed app against the scenario suite.

Runs every scenario in retrorun/sim/scenarios (or `--dir`) on the virtual board (the app as
main.py starts it, sim/app_run.py) and prints per-scenario figures and the summary with the
targets of issues 4 and 14 (the stopping-distance physics, the time of continuous alarms while
the runner stands still, the reduced-range signal) and the latency split. Exit status 0 also when a target is missed: the
figures are the result; `all_passed` says whether every target was met.
"""

from __future__ import annotations

from pathlib import Path

from retrorun.cli import output
from retrorun.errors import RetrorunError


def add_arguments(parser) -> None:
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder of scenario files (default: the shipped suite)")
    parser.add_argument("--seeds", type=int, default=0, metavar="N",
                        help="robustness sweep: run every scenario with seeds 1..N instead of "
                             "its own seed and pool the figures")


def run(args) -> int:
    from retrorun.devtools.sim import scenario as scn
    from retrorun.devtools.sim.run import TARGETS, run_suite, summarize

    paths = sorted(args.dir.glob("*.json")) if args.dir else scn.suite()
    if not paths:
        raise RetrorunError(f"no scenario files in {args.dir}; give --dir a folder of "
                            "*.json scenarios")
    if args.seeds < 0:
        raise RetrorunError(f"--seeds {args.seeds} is negative; give 0 (the shipped seeds) or "
                            "the number of random seeds per scenario")
    results = run_suite(paths, seeds=args.seeds)
    summary = summarize(results)
    if args.json:
        for r in results:
            r.pop("timeline", None)
        output.emit_json({"runs_app": True, "scenarios": results, "summary": summary})
        return 0
    rows = []
    for r in results:
        limited = r["physics_limited"]
        rows.append((r["name"] + (f" #{r['seed']}" if "seed" in r else ""),
                     ("hit*" if limited else "hit") if r["collision"] else "",
                     _f(r.get("lead_time_ratio")), _f(r.get("stop_lead_s")),
                     "MISS" if r.get("missed") and not limited else "",
                     len(r["false_alarms"]), len(r["nuisance_notices"]),
                     _f(r.get("fault_detect_s")), r["max_level"], _f(r["standing_alarm_s"]),
                     _range(r),
                     "ok" if all(c["ok"] for c in r["expectations"]) else "FAIL"))
    output.table("Obstacle scenarios (hit* = physics-limited; range: reduced expected/signalled)",
                 ("scenario", "hits", "lead", "stop s", "miss", "false", "nuis.", "fault s",
                  "max", "stand s", "range", "expect"), rows)
    passed = summary["passed"]
    srows = []
    for key in TARGETS:
        mark = "[green]pass[/]" if passed[key] else "[red]FAIL[/]"
        srows.append((key, _f(summary[key]), summary["targets"][key], mark))
    for key in ("nuisance_notices_per_km", "distance_km", "latency_samples",
                "latency_late_samples", "latency_late_p95_ms", "latency_max_ms",
                "collision_courses", "physics_limited", "standing_s",
                "reduced_range_scenarios", "reduced_range_signalled",
                "reduced_range_false_signals"):
        srows.append((key, _f(summary[key]), "", ""))
    for part, value in summary["latency_split_p95_ms"].items():
        srows.append((f"latency p95: {part.replace('_', ' ')}", _f(value), "", ""))
    output.table("Summary", ("metric", "value", "target", ""), srows)
    for key in ("missed_scenarios", "standing_alarm_scenarios"):
        if summary[key]:
            output.console.print(f"{key.replace('_', ' ')}: {', '.join(summary[key])}")
    for failure in summary["expectations_failed"]:
        output.console.print(f"[red]expectation failed[/]: {failure}")
    verdict = "[green]all targets met[/]" if summary["all_passed"] else "[red]targets missed[/]"
    output.console.print(verdict)
    return 0


def _range(r: dict) -> str:
    """'-' no reduced range, 'yes' expected and signalled, 'MISS' expected, not signalled,
    'false' signalled without a reduced range."""
    expected, got = r["reduced_range_expected"], r["reduced_range_signalled"]
    if expected:
        return "yes" if got else "MISS"
    return "false" if got else "-"


def _f(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
