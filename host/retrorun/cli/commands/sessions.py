"""`retrorun sessions [--json] [--store PATH]`: the sessions in the local store."""

from __future__ import annotations

from retrorun.cli import output
from retrorun.sessions.store import Store


def register(sub) -> None:
    parser = sub.add_parser("sessions", help="list the synced sessions in the local store")
    parser.add_argument("--store", help="store file (default: the user data directory)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.sessions.report import build_report

    with Store(args.store) as store:
        items = []
        for row in store.sessions():
            report = build_report(store, row.key)
            items.append({"id": row.key, "start": row.start_unix,
                          "duration_s": report["duration_s"], "steps": report["steps"],
                          "alerts": sum(report["alerts"].values()),
                          "faults": len(report["faults"]), "size": row.size})
    if args.json:
        output.emit_json({"sessions": items})
        return 0
    output.table("Sessions", ("id", "start", "duration", "steps", "alerts", "faults"),
                 [(i["id"], _when(i["start"]), f"{i['duration_s']:.0f} s", i["steps"],
                   i["alerts"], i["faults"]) for i in items])
    return 0


def _when(unix: int | None) -> str:
    import datetime as dt

    if not unix:
        return "unknown"
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
