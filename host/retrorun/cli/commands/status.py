"""`retrorun status [--port P | --ble NAME] [--json]`: what the device says about itself."""

from __future__ import annotations

from retrorun.cli import output
from retrorun.link.connect import add_link_arguments, open_transport


def register(sub) -> None:
    parser = sub.add_parser("status", help="firmware, battery, storage, sessions, sensor health")
    add_link_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args) -> int:
    with open_transport(args) as transport:
        status = transport.status()
    status.pop("ok", None)
    if args.json:
        output.emit_json(status)
        return 0
    battery = ("unknown" if status.get("battery_pct") is None
               else f"{status['battery_pct']} % ({status.get('battery_mv')} mV)")
    rows = [
        ("firmware", status.get("firmware")),
        ("board", status.get("board") or "not configured"),
        ("battery", battery),
        ("sensor", status.get("sensor")),
        ("free flash", "unknown" if status.get("free_kb") is None else f"{status['free_kb']} KB"),
        ("sessions", f"{status.get('sessions')} ({status.get('unsynced')} not synced)"),
        ("recording", status.get("recording") or "no"),
        ("storage full", "YES: samples are not logged" if status.get("storage_full") else "no"),
        ("config", "fallback in use" if status.get("config_fallback") else "ok"),
    ]
    output.table(None, ("", ""), rows)
    return 0
