"""`retrorun monitor [--port P | --ble NAME [--ble-transport SPEC]] [--json]`: distance, alert
level, cadence and steps, live."""

from __future__ import annotations

import json
import sys

from retrorun.cli import output
from retrorun.link.connect import add_link_arguments


def register(sub) -> None:
    parser = sub.add_parser("monitor", help="live distance, alert level, cadence and steps",
                            description="Show what the running device sees, without stopping "
                                        "it. Ctrl-C leaves. --json prints one JSON object per "
                                        "reading (JSON lines).")
    add_link_arguments(parser)
    parser.add_argument("--json", action="store_true", help="JSON lines instead of the view")
    parser.add_argument("--count", type=int, default=0, help="stop after N readings")
    parser.set_defaults(func=run)


def _readings(args):
    """(where, readings): the USB console's live lines, or the live characteristic over BLE."""
    if getattr(args, "ble", None):
        from retrorun.link.connect import open_transport

        transport = open_transport(args)
        return transport.description, transport.live()
    if getattr(args, "ble_transport", None):
        from retrorun.errors import RetrorunError

        raise RetrorunError("--ble-transport needs --ble NAME (the device to reach over it)")
    from retrorun.link.devices import pick_port
    from retrorun.link.monitor import live_lines

    port = pick_port(args.port)
    return port, live_lines(port)


def run(args) -> int:
    port, readings = _readings(args)
    seen = 0
    try:
        if args.json or not sys.stdout.isatty():
            for live in readings:
                if live is None:
                    continue
                sys.stdout.write(json.dumps({**live.__dict__, "level_name": live.level_name,
                                             "fault_name": live.fault_name}) + "\n")
                sys.stdout.flush()
                seen += 1
                if args.count and seen >= args.count:
                    break
            return 0
        from rich.live import Live as RichLive

        with RichLive(_view(None, port), console=output.console, refresh_per_second=4) as view:
            for live in readings:
                if live is not None:
                    view.update(_view(live, port))
                    seen += 1
                    if args.count and seen >= args.count:
                        break
    except KeyboardInterrupt:
        pass
    return 0


def _view(live, port: str):
    from rich.table import Table

    table = Table(title=f"retrorun on {port} (Ctrl-C to leave)", show_header=False)
    if live is None:
        table.add_row("waiting for the app's live lines (setting usb.live)...")
        return table
    colours = ["green", "yellow", "dark_orange", "bold red", "bold magenta"]
    distance = "-" if live.distance_mm < 0 else f"{live.distance_mm / 1000:.2f} m"
    table.add_row("distance", distance)
    table.add_row("alert", f"[{colours[min(live.level, 4)]}]{live.level_name}[/]")
    table.add_row("sensor", live.fault_name or "ok")
    table.add_row("cadence", f"{live.cadence} steps/min")
    if live.steps >= 0:  # over Bluetooth the live characteristic has no steps and battery
        table.add_row("steps", str(live.steps))
        table.add_row("battery", f"{live.battery_mv} mV")
        table.add_row("recording", "yes" if live.recording else "no")
    return table
