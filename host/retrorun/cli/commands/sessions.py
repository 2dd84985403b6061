"""`retrorun sessions [--json] [--store PATH]`: the sessions in the local store, and the
runner's bookkeeping: `sessions delete SESSION... [--yes]`, `sessions rename SESSION NAME`,
`sessions note SESSION TEXT`.

A session keeps its key (`<device uid>/<session id>`, what sync deduplicates on) whatever it is
called: rename sets the name shown and accepted wherever a session is named. A deleted session is
remembered, so `retrorun sync` does not bring it back from the device (`sync --restore-deleted`
does, while the device still has it)."""

from __future__ import annotations

import argparse

from retrorun.cli import output
from retrorun.sessions.store import NoStore, Store

_STORE_HELP = "store file (default: the user data directory)"


def _add_store(parser) -> None:
    # SUPPRESS: `sessions --store S delete 1` keeps S (argparse would reset it to None)
    parser.add_argument("--store", default=argparse.SUPPRESS, help=_STORE_HELP)


def register(sub) -> None:
    parser = sub.add_parser("sessions", help="list the synced sessions; delete, rename or "
                                             "annotate one",
                            description="List the sessions in the local store, or delete, "
                                        "rename or annotate them.")
    parser.add_argument("--store", help=_STORE_HELP)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(metavar="ACTION")
    delete = actions.add_parser("delete", help="remove sessions from the store (asks first)",
                                description="Remove sessions and their records from the store. "
                                            "'retrorun sync' does not copy them again; "
                                            "'retrorun sync --restore-deleted' does while the "
                                            "device still has them.")
    delete.add_argument("sessions", nargs="+", metavar="SESSION",
                        help="session key, name, number or 'last'")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask")
    _add_store(delete)
    delete.set_defaults(func=run_delete)
    rename = actions.add_parser("rename", help="give a session a name",
                                description="Name a session (\"\" goes back to its key). The "
                                            "name is shown in lists and reports and accepted "
                                            "wherever a session is asked for; the key stays.")
    rename.add_argument("session", help="session key, name, number or 'last'")
    rename.add_argument("name")
    _add_store(rename)
    rename.set_defaults(func=run_rename)
    note = actions.add_parser("note", help="write a note on a session",
                              description="Attach a note to a session (\"\" removes it); "
                                          "shown by 'retrorun report' and 'retrorun sessions'.")
    note.add_argument("session", help="session key, name, number or 'last'")
    note.add_argument("text")
    _add_store(note)
    note.set_defaults(func=run_note)


def run(args) -> int:
    from retrorun.sessions.report import build_report

    try:
        store = Store(args.store, create=False)
    except NoStore:
        if args.store:  # a path the user gave: a typo must not look like an empty store
            raise
        return _show(args, [])  # nothing synced yet on this machine
    with store:
        items = []
        for row in store.sessions():
            report = build_report(store, row.key)
            items.append({"id": row.key, "name": row.name, "start": row.start_unix,
                          "duration_s": report["duration_s"], "steps": report["steps"],
                          "alerts": sum(report["alerts"].values()),
                          "faults": len(report["faults"]), "size": row.size,
                          "note": row.note})
    return _show(args, items)


def _show(args, items: list[dict]) -> int:
    if args.json:
        output.emit_json({"sessions": items})
        return 0
    if not items:
        output.console.print("no sessions yet; 'retrorun sync' copies them from the device")
        return 0
    named = any(i["name"] != i["id"] for i in items)
    noted = any(i["note"] for i in items)
    columns = ["id", *(["name"] if named else []), "start", "duration", "steps", "alerts",
               "faults", *(["note"] if noted else [])]
    rows = []
    for i in items:
        rows.append([i["id"], *([i["name"] if i["name"] != i["id"] else ""] if named else []),
                     _when(i["start"]), output.duration(i["duration_s"]), i["steps"],
                     i["alerts"], i["faults"], *([i["note"] or ""] if noted else [])])
    output.table("Sessions", columns, rows, whole=(0, 1) if named else (0,))
    return 0


def run_delete(args) -> int:
    with Store(args.store, create=False) as store:
        keys = list(dict.fromkeys(store.resolve(ref) for ref in args.sessions))
        what = (f"session {keys[0]}" if len(keys) == 1
                else f"{len(keys)} sessions ({', '.join(keys)})")
        output.confirm(f"delete {what} from {store.path} (sync will not copy it again)",
                       yes=args.yes, refused=f"nothing deleted: {what} kept")
        for key in keys:
            store.delete(key)
    output.console.print(f"deleted {what}; 'retrorun sync --restore-deleted' copies it back "
                         "while the device still has it")
    return 0


def run_rename(args) -> int:
    with Store(args.store, create=False) as store:
        key = store.resolve(args.session)
        store.rename(key, args.name)
    output.console.print(f"{key} is now called '{args.name.strip()}'" if args.name.strip()
                         else f"{key} has no name any more", markup=False)
    return 0


def run_note(args) -> int:
    with Store(args.store, create=False) as store:
        key = store.resolve(args.session)
        store.set_note(key, args.text)
    output.console.print(f"note on {key} " + ("saved" if args.text.strip() else "removed"))
    return 0


def _when(unix: int | None) -> str:
    import datetime as dt

    if not unix:
        return "unknown"
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
