"""`retrorun sim run SCENARIO.json [--json]`: the firmware warning pipeline on one scenario."""

from __future__ import annotations

from pathlib import Path

from retrorun.cli import output


def register(sub) -> None:
    parser = sub.add_parser("sim", help="run the warning pipeline against a scenario",
                            description="Simulate a backward run: the world and the sensor "
                                        "in Python, the firmware pipeline and haptic patterns "
                                        "in real MicroPython on virtual time (the deployed app on the virtual board).")
    sim_sub = parser.add_subparsers(metavar="ACTION", required=True)
    run = sim_sub.add_parser("run", help="run one scenario file (format: docs/scenarios.md)")
    run.add_argument("scenario", type=Path, help="scenario JSON file")
    run.add_argument("--json", action="store_true", help="machine-readable output")
    run.set_defaults(func=run_cmd)


def run_cmd(args) -> int:
    from retrorun.devtools.sim.run import run_scenario

    result = run_scenario(args.scenario)
    if args.json:
        output.emit_json(result)
        return 0
    output.console.print(f"[bold]{result['name']}[/]: {result['description']}")
    output.table("Timeline", ("t (s)", "event", "detail"),
                 [(f"{e['t_s']:.2f}", e["event"],
                   _detail(e)) for e in result["timeline"]])
    rows = [(key, _fmt(result.get(key))) for key in (
        "sensor", "mode", "duration_s", "readings", "distance_m", "collision", "contact_s",
        "available_s", "first_alert_s", "lead_time_ratio", "stop_lead_s", "missed",
        "false_alarms", "nuisance_notices", "fault_detect_s", "max_level",
        "latencies_ms", "real_s") if key in result]
    if result["physics_limited"]:
        rows.append(("physics_limited", result["physics_reason"]))
    output.table("Metrics", ("metric", "value"), rows)
    for check in result["expectations"]:
        mark = "[green]ok[/]" if check["ok"] else "[red]FAILED[/]"
        output.console.print(f"expect {check['expect']}: {mark}")
    return 0


def _detail(e: dict) -> str:
    if e["event"] == "level":
        d = e["distance_mm"]
        where = f"{d / 1000:.2f} m" if d >= 0 else "nothing"
        ttc = f", ttc {e['ttc_ms'] / 1000:.2f} s" if e["ttc_ms"] < 60000 else ""
        return f"{e['level']} ({where}, closing {e['closing_mms'] / 1000:.1f} m/s{ttc})"
    return "motor on " + str(e["strength"]) if e["strength"] else "motor off"


def _fmt(value) -> str:
    if isinstance(value, list):
        return f"{len(value)}" + (f" at {', '.join(str(v) for v in value[:5])} s" if value else "")
    return "-" if value is None else str(value)
