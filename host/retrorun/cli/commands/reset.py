"""`retrorun reset [--port P] [--yes] [--json]`: soft-reset the board over USB serial.

A soft reset stops the app (warnings stop until it is back, a second or two later) and ends a
recording in progress, which the next boot closes; so when the running app says a session is
recording (asked over the console, without stopping it), the command asks first (`--yes` skips
the question)."""

from __future__ import annotations

from retrorun.cli import output
from retrorun.link.connect import add_link_arguments, open_repl


def register(sub) -> None:
    parser = sub.add_parser("reset", help="soft-reset the board (stops the app; it starts again)",
                            description="Soft-reset the board over USB serial: the app stops "
                                        "and starts again from main.py. Asks before ending a "
                                        "recording.")
    add_link_arguments(parser, ble=False)
    parser.add_argument("--yes", "-y", action="store_true",
                        help="end a recording in progress without asking")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    # open_repl asks before ending a recording, before the app is stopped
    with open_repl(args, "reset") as transport:
        if not args.json:
            output.err_console.print(f"resetting the board on {transport.description}: this "
                                     "stops the app until it has started again")
        recording = transport.ended_recording
        rebooted = transport.reset_board()
    if args.json:
        output.emit_json({"port": transport.description, "rebooted": rebooted,
                          "ended_recording": recording})
        return 0
    output.console.print("the board rebooted; the app is starting again" if rebooted else
                         "reset sent; the board did not confirm it (press its reset button if "
                         "the app does not come back)")
    return 0
