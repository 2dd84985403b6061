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
        ("sensor range", "REDUCED: sees about "
         f"{status['usable_mm'] / 1000:.2f} m (strong light?)" if status.get("usable_mm")
         else "full"),
        ("motor", status.get("motor", "unknown")),
        ("free flash", "unknown" if status.get("free_kb") is None else f"{status['free_kb']} KB"),
        ("sessions", f"{status.get('sessions')} ({status.get('unsynced')} not synced)"),
        ("recording", status.get("recording") or "no"),
        ("storage full", "YES: samples are not logged" if status.get("storage_full") else
         status.get("storage") if status.get("storage", "ok") != "ok" else "no"),
        ("config", _config_text(status)),
        ("alert mode", _mode_text(status.get("alert_mode"))),
    ]
    output.table(None, ("", ""), rows)
    return 0


_FALLBACKS = {1: "FALLBACK: the last good copy (config.json was refused)",
              2: "FALLBACK: the defaults (config.json and its last good copy were refused)"}


def _config_text(status: dict) -> str:
    fallback = status.get("config_fallback")
    if not fallback:
        return "ok"
    text = _FALLBACKS.get(fallback, f"FALLBACK {fallback}")
    return f"{text}: {status['config_message']}" if status.get("config_message") else text


def _mode_text(mode) -> str:
    if mode == "treadmill":
        return "TREADMILL: distance to the console only, no time to contact (not for outdoors)"
    return mode or "unknown"
