"""Device API: the functions the laptop calls over the REPL (`import retrofw.api as a; a.status()`).

Each prints one line of compact JSON on stdout, except `read()`, which prints a header line and
then raw session bytes escaped for the raw REPL (framing in wire.py, shared with the host).
The `*_answer()` functions return those objects, for the BLE control service to send as they
are, so both links answer the same:

    RRD <offset> <length> <crc32 hex>\\n<escaped bytes>

Errors are answered as {"ok":false,"error":"..."} (also by read(), instead of the header).
The running app shares its live state by filling `live` (battery, sensor health, board) and
registering its SessionWriter with `attach()`. Formats: docs/device-api.md.
"""

import binascii
import json
import sys

from retrofw import wire, wire_usb
from retrofw.store import SessionStore
from retrofw.version import VERSION

ROOT = "/"
live = {"board": "", "battery_mv": None, "battery_pct": None, "sensor": "unknown"}
_writer = None
_on_config = None


def attach(writer=None, on_config=None, root=None):
    """Called by the app: the active SessionWriter, a callback for new configs, the fs root."""
    global _writer, _on_config, ROOT
    _writer = writer
    _on_config = on_config
    if root is not None:
        ROOT = root


def _store():
    if _writer is not None:
        return _writer.store
    return SessionStore(ROOT)


def _answer(obj):
    # every answer at the REPL feeds the parked watchdog (retrofw.failsafe.host_working)
    failsafe = sys.modules.get("retrofw.failsafe")
    if failsafe is not None:
        failsafe.host_working()
    sys.stdout.write(json.dumps(obj, separators=(",", ":")))
    sys.stdout.write("\n")


def _error(message):
    _answer({"ok": False, "error": message})


def _uid():
    """The chip's unique id as hex (the host names the device by it), or the live value."""
    try:
        import machine

        return binascii.hexlify(machine.unique_id()).decode()
    except (ImportError, AttributeError, OSError):
        return live.get("uid")


def status_answer():
    store = _store()
    ids = store.ids()
    unsynced = 0
    for sid in ids:
        if not store.synced(sid):
            unsynced += 1
    if "config_hash" in live:  # the running app keeps them: no settings module to load
        fallback, config_hash = live["config_fallback"], live["config_hash"]
        mode, message = live.get("alert_mode"), live.get("config_message", "")
    else:
        values, fallback, (config_hash, message) = _config()
        mode = values["alert.mode"]
    w = _writer.status() if _writer is not None and not _writer.closed else None
    return {"ok": True, "api": wire.API_VERSION, "log_format": wire.LOG_FORMAT_VERSION,
            "firmware": VERSION, "board": live.get("board", ""), "uid": _uid(),
            "battery_mv": live.get("battery_mv"), "battery_pct": live.get("battery_pct"),
            "sensor": live.get("sensor", "unknown"), "free_kb": store.free_kb(),
            "sessions": len(ids), "unsynced": unsynced,
            "recording": w["session"] if w else None,
            "storage_full": bool(w and w["storage_full"]),
            "config_hash": config_hash, "config_fallback": fallback,
            "config_message": message, "alert_mode": mode,
            "motor": live.get("motor", "unknown"), "usable_mm": live.get("usable_mm"),
            "storage": live.get("storage", "ok")}


def sessions_answer():
    return {"ok": True, "sessions": _store().list()}


def status():
    _answer(status_answer())


def sessions():
    _answer(sessions_answer())


def read(session, offset, size):
    """Bytes [offset, offset+size) of a session file (size capped at wire.API_READ_MAX)."""
    store = _store()
    if store.size(session) < 0:
        _error("no session %d" % session)
        return
    if size > wire.API_READ_MAX:
        size = wire.API_READ_MAX
    if offset < 0 or size < 0:
        _error("offset and size must not be negative")
        return
    with open(store.path(session), "rb") as f:
        f.seek(offset)
        data = f.read(size)
    failsafe = sys.modules.get("retrofw.failsafe")
    if failsafe is not None:
        failsafe.host_working()
    out = sys.stdout
    raw = getattr(out, "buffer", out)
    if raw is not out:
        _flush(out)  # CPython: text written before must come first
    raw.write(wire.api_read_header(offset, len(data), binascii.crc32(data)).encode())
    raw.write(bytes(wire.api_escape(data)))
    _flush(raw)


def _flush(stream):
    try:
        stream.flush()
    except (AttributeError, OSError):  # the WASI build's stdout cannot flush (EBADF)
        pass


def digest_answer(session):
    """SHA-256 (hex) of a whole session file, read in 512-byte pieces."""
    store = _store()
    if not isinstance(session, int) or store.size(session) < 0:
        return {"ok": False, "error": "no session %s" % (session,)}
    digest = store.sha256(session, bytearray(512))[1]
    return {"ok": True, "id": session, "sha256": binascii.hexlify(digest).decode()}


def digest(session):
    _answer(digest_answer(session))


_EPOCH_2000 = 946684800  # Unix time of 2000-01-01, the ESP32 ports' epoch


def unix_now():
    """Unix seconds from the RTC, or 0 while the clock was never set (an ESP32 starts at its
    epoch, 2000-01-01, after power-on)."""
    import time

    t = time.time()
    if time.gmtime(0)[0] == 2000:
        t += _EPOCH_2000
    return t if t > 1600000000 else 0


def clock_answer(unix_s):
    """Set the RTC to `unix_s` (seconds since 1970, UTC; the host sends its clock on every
    connection). Answers the time the board had before ("was", 0: never set)."""
    import time

    from machine import RTC

    if not isinstance(unix_s, int) or unix_s < 1600000000:
        return {"ok": False, "error": "clock wants Unix seconds after 2020, not %s" % (unix_s,)}
    was = unix_now()
    t = time.gmtime(unix_s - (_EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0))
    RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))
    return {"ok": True, "console": wire_usb.CON_VERSION, "was": was}


def clock(unix_s):
    _answer(clock_answer(unix_s))


def mark_synced_answer(session):
    store = _store()
    if not isinstance(session, int) or store.size(session) < 0:
        return {"ok": False, "error": "no session %s" % (session,)}
    if session == store.active:
        return {"ok": False, "error": "session %d is still recording; stop the run first"
                % session}
    store.mark_synced(session)
    return {"ok": True, "id": session}


def _config(changes=None):
    """(values, fallback or errors, hash or message) with the settings module loaded only for
    the call: the running app does not keep it (retrofw.unload)."""
    from retrofw import settings
    from retrofw.unload import unload

    try:
        if changes is None:
            values, fallback, msg = settings.load(ROOT)
            return values, fallback, (settings.config_hash(values), msg)
        values, errors = settings.set_values(ROOT, changes)
        if not errors and _on_config is not None:
            _on_config(values)
        return values, errors, (settings.config_hash(values), "")
    finally:
        settings = None
        unload("retrofw.settings")


def config_get_answer():
    values, fallback, (config_hash, msg) = _config()
    return {"ok": True, "config": values, "hash": config_hash, "fallback": fallback,
            "message": msg}


def config_set_answer(changes):
    values, errors, (config_hash, _msg) = _config(changes)
    if errors:
        return {"ok": False, "errors": errors}
    return {"ok": True, "config": values, "hash": config_hash}


def mark_synced(session):
    _answer(mark_synced_answer(session))


def config_get():
    _answer(config_get_answer())


def config_set(changes):
    _answer(config_set_answer(changes))
