"""The configuration schema: every setting's type, unit, range, default and meaning.

One definition for the device and the laptop tool. Values are plain JSON types. The device
keeps only the values that differ from the defaults in /config.json (so a new firmware's better
defaults reach everyone who did not choose otherwise), written atomically (temp file, rename)
together with a last good copy /config.bak. At boot `load()` falls back to the last good copy,
else to the defaults, and says why so the app can log a config fault event.

Invalid values are refused with a message naming the key, the value and the valid range, e.g.
`alert.fault_timeout_ms=50 is out of range: valid 100..1000 ms`. No setting may silence or
delay STOP: the alert minimums are floors from the stopping physics (`stopping_mm`, `RULES`;
docs/config.md "Floors"), and a value below one names the rule it breaks.
"""

import binascii
import json
import os

from retrofw.fsutil import replace

# The stopping physics behind the floors (docs/config.md): from the alert to the runner's
# first braking step REACTION_MS pass (0.2 s device latency + 0.4 s human reaction), then the
# runner slows at BRAKE_MMS2. Closing speeds: up to FAST_MMS (backward running ~3 m/s plus a
# person walking toward at 1.5 m/s: assumed); SLOW_MMS is the slow approach that only the
# distance rules catch (twice ranging's 0.25 m/s below which there is no time to contact) and
# the drift toward a treadmill's console (assumed).
REACTION_MS = 600
BRAKE_MMS2 = 3000
FAST_MMS = 4500
SLOW_MMS = 500
STRENGTH_MIN = 20  # % (assumed: weaker drive of an ERM/LRA may not be felt while running)


def stopping_mm(v_mms):
    """Distance (mm) from the alert to a standstill at closing speed v_mms: v*t + v^2/(2a)."""
    return v_mms * REACTION_MS // 1000 + v_mms * v_mms // (2 * BRAKE_MMS2)


def _up10(x):
    return -(-x // 10) * 10


# Floors (mm or ms) and the gaps between levels: a WARNING one reaction time before the STOP.
STOP_FLOOR_MM = _up10(stopping_mm(SLOW_MMS))  # 350
TTC_STOP_FLOOR_MS = _up10(REACTION_MS + FAST_MMS * 1000 // (2 * BRAKE_MMS2))  # 1350
GAP_MM = REACTION_MS * SLOW_MMS // 1000  # 300
GAP_MS = REACTION_MS  # 600

# (key, type, default, minimum or choices, maximum, unit, description)
# type: "int" | "float" | "bool" | "str" | "enum" (choices in the minimum column).
SCHEMA = (
    ("alert.mode", "enum", "outdoor", ("outdoor", "track", "treadmill"), None, "",
     "where you run: outdoor (paths, parks), track (lanes, other runners), treadmill (the "
     "wall behind the belt is expected; only closer than treadmill_min_m warns, no time to "
     "contact: never outdoors)"),
    ("alert.notice_m", "float", 4.0, (STOP_FLOOR_MM + 2 * GAP_MM) / 1000, 15.0, "m",
     "gentle notice when an obstacle is closer"),
    ("alert.warning_m", "float", 2.5, (STOP_FLOOR_MM + GAP_MM) / 1000, 10.0, "m",
     "warning when an obstacle is closer"),
    ("alert.stop_m", "float", 1.2, STOP_FLOOR_MM / 1000, 8.0, "m",
     "stop alert when an obstacle is closer"),
    ("alert.ttc_warning_s", "float", 2.5, (TTC_STOP_FLOOR_MS + GAP_MS) / 1000, 10.0, "s",
     "warning when the time to contact drops below this"),
    ("alert.ttc_stop_s", "float", 1.5, TTC_STOP_FLOOR_MS / 1000, 8.0, "s",
     "stop alert when the time to contact drops below this"),
    ("alert.hysteresis_m", "float", 0.3, 0.0, 2.0, "m",
     "an alert clears only this much farther than it started"),
    ("alert.fault_timeout_ms", "int", 500, 100, 1000, "ms",
     "without a trusted reading this long, signal 'I cannot see'"),
    ("alert.treadmill_min_m", "float", 0.5, STOP_FLOOR_MM / 1000, 3.0, "m",
     "treadmill mode: closest allowed distance to the wall behind"),
    ("haptic.strength", "int", 80, STRENGTH_MIN, 100, "%",
     "vibration strength of CLEAR, NOTICE, WARNING and cues (STOP and FAULT: always full)"),
    ("steps.rate_hz", "int", 50, 25, 100, "Hz", "accelerometer sampling rate"),
    ("posture.cue", "bool", False, None, None, "", "vibrate when the trunk leans too far"),
    ("posture.cue_deg", "float", 25.0, 5.0, 60.0, "deg", "trunk lean that counts as too far"),
    ("posture.cue_s", "int", 5, 1, 60, "s", "lean held this long before the cue"),
    ("log.sample_period_ms", "int", 1000, 200, 10000, "ms", "one log sample every this long"),
    ("log.flush_ms", "int", 5000, 1000, 60000, "ms",
     "complete records reach flash at most this long after they are complete"),
    ("log.snapshot_s", "float", 3.0, 0.0, 10.0, "s",
     "full-rate distance recorded around each warning (0: none)"),
    ("session.auto_start", "bool", False, None, None, "",
     "start recording by itself after 10 steps (otherwise: a short button press)"),
    ("usb.live", "bool", True, None, None, "",
     "print live readings on the USB console twice a second (for retrorun monitor)"),
    ("ble.enabled", "bool", True, None, None, "", "Bluetooth LE on"),
    ("ble.name", "str", "", 0, 20, "chars",
     "advertised name; empty means retrorun-XXXX (last MAC digits)"),
    ("storage.min_free_kb", "int", 256, 32, 4096, "KB",
     "keep this much flash free: delete the oldest synced sessions, then stop logging samples"),
)

CONFIG_FILE = "config.json"
BACKUP_FILE = "config.bak"
_TMP_FILE = "config.tmp"

FALLBACK_LAST_GOOD = 1  # wire.EV_CONFIG a-values
FALLBACK_DEFAULTS = 2


def _m(mm):
    return "%s m" % (mm / 1000)


_PHYSICS = "%s s reaction + braking at %s m/s^2; docs/config.md" % (
    REACTION_MS / 1000, BRAKE_MMS2 // 1000)
_GAP_M = "%s (one %s s reaction at %s/s)" % (_m(GAP_MM), GAP_MS / 1000, _m(SLOW_MMS))
_GAP_S = "%s s (one reaction)" % (GAP_MS / 1000)
# (key, lower level, gap, upper level, the key of the lower level) of the rules between levels
_LEVELS = (("alert.warning_m", "STOP", _GAP_M, "WARNING", "alert.stop_m"),
           ("alert.notice_m", "WARNING", _GAP_M, "NOTICE", "alert.warning_m"),
           ("alert.ttc_warning_s", "STOP", _GAP_S, "WARNING", "alert.ttc_stop_s"))


def rule(key):
    """Why key has the minimum it has (the rule a lower value breaks), or None."""
    if key == "alert.stop_m":
        return ("at %s/s closing (too slow for a time to contact) STOP must come %s before "
                "contact (%s)" % (_m(SLOW_MMS), _m(STOP_FLOOR_MM), _PHYSICS))
    if key == "alert.ttc_stop_s":
        return "at %s/s closing, STOP must come %.1f m before contact (%s)" % (
            _m(FAST_MMS), stopping_mm(FAST_MMS) / 1000, _PHYSICS)
    if key == "alert.treadmill_min_m":
        return "drifting back at %s/s, STOP must come %s before the console (%s)" % (
            _m(SLOW_MMS), _m(STOP_FLOOR_MM), _PHYSICS)
    if key == "haptic.strength":
        return ("weaker vibration may not be felt while running (assumed ERM/LRA minimum; STOP "
                "and FAULT always play at full strength; docs/config.md)")
    for hi_key, low, gap, high, lo_key in _LEVELS:
        if key == hi_key:
            floor = _SPEC[lo_key]
            return "%s must come at least %s before %s, whose floor is %s %s (docs/config.md)" % (
                high, gap, low, floor[3], floor[5])
    return None


def _index():
    out = {}
    for entry in SCHEMA:
        out[entry[0]] = entry
    return out


_SPEC = _index()


def keys():
    return [e[0] for e in SCHEMA]


def spec(key):
    """The schema entry of key; KeyError with a helpful message when unknown."""
    try:
        return _SPEC[key]
    except KeyError:
        raise KeyError("unknown setting %r; known: %s" % (key, ", ".join(keys())))


def defaults():
    return dict((e[0], e[2]) for e in SCHEMA)


def describe():
    """The schema as a list of JSON-friendly dicts (for the host's help and docs)."""
    out = []
    for key, typ, default, lo, hi, unit, text in SCHEMA:
        d = {"key": key, "type": typ, "default": default, "unit": unit, "description": text}
        if typ == "enum":
            d["choices"] = list(lo)  # type: ignore
        elif typ == "str":
            d["max_length"] = hi
        elif typ != "bool":
            d["min"] = lo
            d["max"] = hi
        out.append(d)
    return out


def _range_text(entry):
    typ, lo, hi, unit = entry[1], entry[3], entry[4], entry[5]
    if typ == "enum":
        return "one of " + "|".join(lo)
    if typ == "bool":
        return "true or false"
    if typ == "str":
        return "text of at most %d printable ASCII characters" % hi
    return ("%s..%s %s" % (lo, hi, unit)).strip()


def check_value(key, value):
    """(normalised value, None) or (None, message naming key, value and valid range)."""
    if key not in _SPEC:
        return None, "unknown setting %r" % (key,)
    entry = _SPEC[key]
    typ = entry[1]
    lo = entry[3]
    hi = entry[4]
    bad = "%s=%s is not valid: valid %s" % (key, json.dumps(value), _range_text(entry))
    if typ == "bool":
        return (value, None) if type(value) is bool else (None, bad)
    if typ == "enum":
        return (value, None) if (type(value) is str and value in lo) else (None, bad)
    if typ == "str":
        if type(value) is not str or len(value) > hi:
            return None, bad
        for ch in value:
            if not (" " <= ch <= "~"):
                return None, bad
        return value, None
    if type(value) is bool or not isinstance(value, (int, float)):
        return None, bad
    if typ == "int":
        # NaN and infinities have no int(): they fail the range check below instead
        if type(value) is float and lo <= value <= hi:
            if value != int(value):
                return None, "%s=%s is not valid: must be a whole number, valid %s" % (
                    key, json.dumps(value), _range_text(entry))
            value = int(value)
    else:
        value = float(value)
    if value < lo:  # NaN compares False both ways: "out of range" below
        why = rule(key)
        if why:
            return None, "%s=%s is below %s %s: %s" % (key, json.dumps(value), lo, entry[5], why)
    if not (lo <= value <= hi):
        return None, "%s=%s is out of range: valid %s" % (key, json.dumps(value),
                                                         _range_text(entry))
    return value, None


def parse_value(key, text):
    """A value typed on a command line (`alert.notice_m=3.5`) converted for check_value."""
    typ = spec(key)[1]
    if typ == "bool":
        low = text.strip().lower()
        if low in ("true", "1", "on", "yes"):
            return True
        if low in ("false", "0", "off", "no"):
            return False
        return text
    if typ in ("int", "float"):
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return text


def _cross_checks(values):
    errors = []
    for hi_key, low, gap, high, lo_key in _LEVELS:
        need = GAP_MS if hi_key.endswith("_s") else GAP_MM
        if round(values[hi_key] * 1000) - round(values[lo_key] * 1000) < need:
            errors.append("%s=%s must be at least %s above %s=%s: %s must come that long "
                          "before %s (docs/config.md)" % (
                              hi_key, json.dumps(values[hi_key]), gap, lo_key,
                              json.dumps(values[lo_key]), high, low))
    return errors


def validate(changes, base=None):
    """Apply changes (dict) to base (default: the defaults). Returns (values, errors).

    values is the full configuration when errors is empty; errors are one-line messages."""
    values = defaults() if base is None else dict(base)
    errors = []
    if not isinstance(changes, dict):
        return values, ["configuration must be a JSON object of setting: value"]
    for key in sorted(changes):
        value, err = check_value(key, changes[key])
        if err:
            errors.append(err)
        else:
            values[key] = value  # type: ignore
    if not errors:
        errors = _cross_checks(values)
    return values, errors


def overrides(values):
    """The values that differ from the defaults (what /config.json stores)."""
    return dict((e[0], values[e[0]]) for e in SCHEMA if e[0] in values and values[e[0]] != e[2])


def _canon(value):
    if type(value) is bool:
        return "1" if value else "0"
    if type(value) is float:
        return str(round(value * 1000))
    return str(value)


def config_hash(values):
    """A stable 32-bit hash of the effective configuration (same on device and host)."""
    text = "".join("%s=%s\n" % (e[0], _canon(values.get(e[0], e[2]))) for e in SCHEMA)
    return binascii.crc32(text.encode()) & 0xFFFFFFFF


def _path(root, name):
    root = root.rstrip("/")
    return root + "/" + name


_MAX_BYTES = 4096  # a config is ~1 KB at most; more is damage (and must not exhaust the heap)


def _read(path):
    """(values, None) from a config file, or (None, reason). Never raises for what the file
    holds: missing, a folder, too large, bytes that are not UTF-8, not JSON, bad values."""
    try:
        st = os.stat(path)
    except OSError:
        return None, "missing"
    if st[0] & 0x4000:
        return None, "is a folder"
    if st[6] > _MAX_BYTES:
        return None, "is larger than %d bytes" % _MAX_BYTES
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        return None, "cannot be read (OSError %s)" % (exc.args[0] if exc.args else "")
    try:
        text = raw.decode()
    except UnicodeError:
        return None, "is not UTF-8 text"
    try:
        data = json.loads(text)
    except (ValueError, RuntimeError):  # RuntimeError: CPython's nesting limit
        return None, "is not valid JSON"
    except MemoryError:  # MicroPython's parser: deep nesting ("[[[[...") grows its stack
        return None, "is not valid JSON (too deeply nested)"
    values, errors = validate(data)
    if errors:
        return None, errors[0]
    return values, None


def load(root="/"):
    """Read the configuration at boot; never raises for bad files. Returns (values, fallback,
    message).

    fallback: 0 when config.json was good or absent (first boot), FALLBACK_LAST_GOOD or
    FALLBACK_DEFAULTS when it was refused; message says why (log it as a config event). A good
    config.json that is not the last good copy (copied by hand) becomes it."""
    values, why = _read(_path(root, CONFIG_FILE))
    backup, why_bak = _read(_path(root, BACKUP_FILE))
    if values is not None:
        if backup != values:
            try:
                _write_atomic(root, BACKUP_FILE, _text(values))
            except OSError:  # full or read-only flash: config.json itself is still good
                pass
        return values, 0, ""
    if why == "missing" and why_bak == "missing":
        return defaults(), 0, ""
    if backup is not None:
        return backup, FALLBACK_LAST_GOOD, "config.json %s; using the last good copy" % why
    return defaults(), FALLBACK_DEFAULTS, "config.json %s and no good copy (%s); using " \
        "defaults" % (why, why_bak)


def _text(values):
    return json.dumps(dict(sorted(overrides(values).items())))


def _write_atomic(root, name, text):
    tmp = _path(root, _TMP_FILE)
    with open(tmp, "w") as f:
        f.write(text)
    replace(tmp, _path(root, name))


def save(root, values):
    """Store values (already validated) as config.json and its last good copy, atomically."""
    text = _text(values)
    _write_atomic(root, CONFIG_FILE, text)
    _write_atomic(root, BACKUP_FILE, text)


def set_values(root, changes):
    """Validate changes against the stored configuration and save. Returns (values, errors);
    nothing is written when there is any error."""
    current, _fallback, _msg = load(root)
    values, errors = validate(changes, current)
    if not errors:
        save(root, values)
    return values, errors
