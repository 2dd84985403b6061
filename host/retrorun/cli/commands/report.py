"""`retrorun report SESSION [--plot FILE.png] [--json] [--store PATH]`."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from retrorun.cli import output
from retrorun.sessions.store import Store


def register(sub) -> None:
    parser = sub.add_parser("report", help="report of one session (and a plot)")
    parser.add_argument("session", help="session key, its number, or 'last'")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="also write a PNG plot")
    parser.add_argument("--store", help="store file (default: the user data directory)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.sessions.report import build_report

    with Store(args.store, create=False) as store:
        key = store.resolve(args.session)
        report = build_report(store, key)
        if args.plot:
            from retrorun.sessions.plot import plot_session

            report["plot"] = str(plot_session(store, key, args.plot))
    if args.json:
        output.emit_json(report)
    else:
        print_report(report)
    return 0


def print_report(r: dict) -> None:
    c = output.console
    name = f"{r['label']} ({r['session']})" if r.get("label") else r["session"]
    c.print(f"[bold]Session {escape(name)}[/]  firmware {r['firmware']} on {r['board']}")
    closest = r["closest_approach_m"]
    ttc = r["min_time_to_contact_s"]
    p = r["posture"]
    rows = [
        ("duration", output.duration(r["duration_s"])),
        ("steps", str(r["steps"])),
        ("cadence", f"mean {r['cadence']['mean_spm']} spm, max {r['cadence']['max_spm']} spm"),
        ("alerts", ", ".join(f"{k} {v}" for k, v in r["alerts"].items())),
        ("closest approach", "-" if closest is None else f"{closest:.2f} m"),
        ("min time to contact", "-" if ttc is None else f"{ttc:.2f} s"),
        ("sensor faults", ", ".join(f"{f['fault']} at {output.duration(f['t_s'])}" for f in r["faults"])
         or "none"),
    ]
    if p["mean_trunk_deg"] is not None:
        rows.append(("trunk angle", f"mean {p['mean_trunk_deg']} deg, max {p['max_trunk_deg']} deg"))
    if r.get("note"):
        rows.append(("note", r["note"]))
    if r.get("plot"):
        rows.append(("plot", r["plot"]))
    for label, value in rows:
        c.print(f"  {label:<20} {value}", markup=False)
    if r["recovered"]:
        c.print("  [yellow]this session was recovered after a power cut[/]")
