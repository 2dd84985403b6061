"""`retrorun trends [--plot FILE] [--json] [--store PATH]`: the sessions by ISO week."""

from __future__ import annotations

from pathlib import Path

from retrorun.cli import output
from retrorun.sessions.store import NoStore, Store


def register(sub) -> None:
    parser = sub.add_parser("trends", help="sessions, time, steps, cadence and alerts by week",
                            description="Per ISO week (Monday to Sunday, UTC): sessions, total "
                                        "time, steps, mean cadence, alerts per session.")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="also write a PNG plot")
    parser.add_argument("--store", help="store file (default: the user data directory)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.sessions.trends import plot_trends, weekly

    try:
        with Store(args.store, create=False) as store:
            weeks = weekly(store)
    except NoStore:
        if args.store:
            raise
        weeks = []  # nothing synced yet on this machine
    doc: dict = {"weeks": weeks}
    if args.plot:
        doc["plot"] = str(plot_trends(weeks, args.plot))
    if args.json:
        output.emit_json(doc)
        return 0
    if not weeks:
        output.console.print("no sessions yet; 'retrorun sync' copies them from the device")
        return 0
    output.table("Sessions by week", ("week", "from", "sessions", "time", "steps",
                                      "mean cadence", "alerts/session"),
                 [(w["week"], w["monday"], w["sessions"], output.duration(w["duration_s"]),
                   w["steps"], "-" if w["mean_cadence_spm"] is None
                   else f"{w['mean_cadence_spm']} spm",
                   "-" if w["alerts_per_session"] is None else w["alerts_per_session"])
                  for w in weeks])
    if args.plot:
        output.console.print(f"plot: {doc['plot']}")
    return 0
