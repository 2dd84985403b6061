"""`retrorun sync [--port P | --ble NAME] [--store PATH] [--json]`: pull new sessions."""

from __future__ import annotations

from retrofw import wire, wire_ble
from retrorun.cli import output
from retrorun.link.connect import add_link_arguments, open_transport
from retrorun.sessions.store import Store


def register(sub) -> None:
    parser = sub.add_parser("sync", help="copy new sessions from the device into the store")
    add_link_arguments(parser)
    parser.add_argument("--store", help="store file (default: the user data directory)")
    parser.add_argument("--restore-deleted", action="store_true",
                        help="also copy again the sessions deleted from the store "
                             "('retrorun sessions delete') while the device still has them")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.sessions.sync import pull_sessions

    with (Store(args.store) as store, open_transport(args) as transport,
          output.progress(args.json) as progress):
        # over BLE a chunk is 8 sealed READs: stored as it comes, so an interrupted sync resumes
        chunk = 8 * wire_ble.CTL_READ_MAX if getattr(args, "ble", None) else wire.API_READ_MAX
        result = pull_sessions(transport, store, chunk_size=chunk, progress=progress,
                               restore_deleted=args.restore_deleted)
    if args.json:
        output.emit_json({"device": result.device, "stored": result.stored,
                          "already_in_store": result.already,
                          "skipped_recording": result.skipped_recording,
                          "deleted_in_store": result.deleted_in_store,
                          "payload_bytes": result.payload_bytes,
                          "resumed_bytes": result.resumed_bytes, "problems": result.problems})
        return 0
    if not result.stored:
        output.console.print("nothing new to sync")
    for key in result.stored:
        note = f" ({len(result.problems[key])} damaged regions salvaged)" \
            if key in result.problems else ""
        output.console.print(f"stored {key}{note}")
    if result.deleted_in_store:
        output.console.print(f"left on the device: {len(result.deleted_in_store)} session(s) "
                             "deleted from the store (--restore-deleted copies them back)")
    if result.skipped_recording:
        output.console.print(f"still recording: session {result.skipped_recording[0]} "
                             "(stop the run to sync it)")
    return 0
