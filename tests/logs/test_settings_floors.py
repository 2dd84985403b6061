"""Issue 14, "never silent": no setting silences or delays STOP, and bad config bytes or values
at boot fall back to the last good copy or the defaults (in CPython and in MicroPython).

The expected numbers come from the stopping physics written here, not from the firmware's
constants: from the alert, 0.2 s device latency + 0.4 s human reaction, then braking at
3 m/s^2, at closing speeds up to 4.5 m/s (backward running ~3 m/s + a person walking toward at
1.5 m/s) and 0.5 m/s for a slow approach (no time to contact) or a treadmill drift.
"""

import json
import math

import pytest

from retrofw import settings
from retrorun.devtools.mpy import NO_GC_HEAP_KB

REACTION_S = 0.2 + 0.4
BRAKE = 3.0
FAST = 4.5
SLOW = 0.5


def stopping_m(v):
    return v * REACTION_S + v * v / (2 * BRAKE)


def up(x, step=0.01):
    return math.ceil(round(x / step, 6)) * step


TTC_STOP_FLOOR = up(stopping_m(FAST) / FAST)  # 1.35 s
STOP_FLOOR = up(stopping_m(SLOW))  # 0.35 m
GAP_M = REACTION_S * SLOW  # 0.3 m
GAP_S = REACTION_S  # 0.6 s
FLOORS = {
    "alert.stop_m": STOP_FLOOR, "alert.warning_m": STOP_FLOOR + GAP_M,
    "alert.notice_m": STOP_FLOOR + 2 * GAP_M, "alert.ttc_stop_s": TTC_STOP_FLOOR,
    "alert.ttc_warning_s": TTC_STOP_FLOOR + GAP_S, "alert.treadmill_min_m": STOP_FLOOR,
    "haptic.strength": 20,
}
# the minimums the schema had before issue 14 (STOP 0.3 s before contact)
OLD_MINIMUMS = {"alert.notice_m": 0.5, "alert.warning_m": 0.3, "alert.stop_m": 0.2,
                "alert.ttc_warning_s": 0.5, "alert.ttc_stop_s": 0.3}


def test_schema_minimums_are_the_physics_floors():
    mins = {d["key"]: d["min"] for d in settings.describe() if "min" in d}
    for key, floor in FLOORS.items():
        assert mins[key] == pytest.approx(floor), key
    assert abs(TTC_STOP_FLOOR - 1.35) < 1e-9 and abs(STOP_FLOOR - 0.35) < 1e-9


def test_the_floors_make_stop_come_in_time_at_every_closing_speed():
    """STOP comes at max(stop_m, v * ttc_stop_s) (alerts.Pipeline: either rule); ranging gives
    no time to contact below 0.25 m/s, where the distance rule alone must do. Checked on the
    schema's minimums, the lowest values the device accepts."""
    mins = {d["key"]: d["min"] for d in settings.describe() if "min" in d}
    for i in range(1, 451):
        v = i / 100
        at = max(mins["alert.stop_m"], v * mins["alert.ttc_stop_s"] if v > 0.25 else 0)
        assert at >= stopping_m(v) - 1e-9, v
    # the old minimums: at 4.5 m/s the STOP came 0.3 s (1.35 m) before contact
    at = max(OLD_MINIMUMS["alert.stop_m"], FAST * OLD_MINIMUMS["alert.ttc_stop_s"])
    assert at / FAST == pytest.approx(0.3) and at < stopping_m(FAST) / 4


PIPELINE = r"""
from retrofw.alerts import Pipeline
from retrofw import settings
floors = dict((d['key'], d['min']) for d in settings.describe() if 'min' in d)
out = []
for period in (20, 50, 100):
    for v in (300, 600, 1000, 2000, 3000, 4500):
        p = Pipeline(mode='outdoor', notice_m=floors['alert.notice_m'],
                     warning_m=floors['alert.warning_m'], stop_m=floors['alert.stop_m'],
                     ttc_warning_s=floors['alert.ttc_warning_s'],
                     ttc_stop_s=floors['alert.ttc_stop_s'])
        t = 0
        at = -1
        while 7900 - v * t // 1000 > 0:
            d = 7900 - v * t // 1000
            if p.update(t, d) == 3:
                at = d
                break
            t += period
        out.append([period, v, at])
result = out
"""


def test_the_alert_pipeline_at_the_floors_stops_in_time_in_both_runtimes(both):
    """The real pipeline (filter lag, discrete readings) set to every floor: the first STOP comes
    at a true distance that leaves the stop within the 0.2 s device-latency budget."""
    for period, v_mms, at_mm in both.run(PIPELINE):
        v = v_mms / 1000
        assert at_mm / 1000 >= stopping_m(v) - 0.2 * v, (period, v, at_mm)


VALIDATE = r"""
from retrofw import settings
result = [settings.validate(c)[1] for c in CASES]
"""


def _ttc_message(value):
    return (f"alert.ttc_stop_s={value} is below {TTC_STOP_FLOOR:g} s: at {FAST:g} m/s closing, "
            f"STOP must come {stopping_m(FAST):.1f} m before contact (0.6 s reaction + braking "
            f"at 3 m/s^2; docs/config.md)")


def test_floors_and_gaps_name_the_rule_in_both_runtimes(both):
    cases = [{"haptic.strength": 0}, OLD_MINIMUMS, {"alert.ttc_stop_s": 1.34},
             {"alert.ttc_stop_s": TTC_STOP_FLOOR}, {"alert.stop_m": 0.34},
             {"alert.treadmill_min_m": 0.1}, {"alert.stop_m": 2.3},
             {"alert.ttc_warning_s": 2.0}, {"alert.notice_m": 2.7}, dict(FLOORS)]
    got = both.run(f"CASES = {cases!r}\n" + VALIDATE)
    assert got[0] == ["haptic.strength=0 is below 20 %: weaker vibration may not be felt while "
                      "running (assumed ERM/LRA minimum; STOP and FAULT always play at full "
                      "strength; docs/config.md)"]
    assert _ttc_message(0.3) in got[1] and len(got[1]) == len(OLD_MINIMUMS)
    assert got[2] == [_ttc_message(1.34)]
    assert got[3] == []
    assert got[4] == [f"alert.stop_m=0.34 is below {STOP_FLOOR:g} m: at {SLOW:g} m/s closing "
                      f"(too slow for a time to contact) STOP must come {STOP_FLOOR:g} m before "
                      "contact (0.6 s reaction + braking at 3 m/s^2; docs/config.md)"]
    assert got[5][0].startswith(f"alert.treadmill_min_m=0.1 is below {STOP_FLOOR:g} m: drifting")
    assert got[6] == [f"alert.warning_m=2.5 must be at least {GAP_M:g} m (one 0.6 s reaction at "
                      f"0.5 m/s) above alert.stop_m=2.3: WARNING must come that long before "
                      "STOP (docs/config.md)"]
    assert got[7] == ["alert.ttc_warning_s=2.0 must be at least 0.6 s (one reaction) above "
                      "alert.ttc_stop_s=1.5: WARNING must come that long before STOP "
                      "(docs/config.md)"]
    assert got[8][0].startswith("alert.notice_m=2.7 must be at least 0.3 m")
    assert got[9] == [], "every floor at once is a valid configuration"


BOOT = r"""
import os
from retrofw import settings
J = ROOT.rstrip('/') + '/config.json'
B = ROOT.rstrip('/') + '/config.bak'
def put(path, data):
    with open(path, 'wb') as f:
        f.write(data)
def clean():
    for p in (J, B):
        try:
            os.remove(p)
        except OSError:
            try:
                os.rmdir(p)
            except OSError:
                pass
out = []
for case in CASES:
    for with_copy in (True, False):
        clean()
        if with_copy:
            put(B, b'{"haptic.strength": 30}')
        if type(case) is str and case == 'FOLDER':
            os.mkdir(J)
        elif type(case) is str and case == 'NESTED':  # built here: too long a literal
            put(J, b'[' * 2000)
        elif type(case) is str and case == 'LARGE':
            put(J, b' ' * 5000 + b'{}')
        else:
            put(J, case)
        values, fallback, message = settings.load(ROOT)
        out.append([fallback, values['haptic.strength'], message])
clean()
put(J, b'{"haptic.strength": 40}')  # copied by hand, never saved by the device
first = settings.load(ROOT)
os.remove(J)
again = settings.load(ROOT)
clean()
result = [out, [first[1], again[1], again[0]['haptic.strength']]]
"""

# (file contents, words in the reason)
BAD_FILES = [
    (b'\xff\xfe{"haptic.strength": 50}', "is not UTF-8 text"),
    (b'{"ble.name": "\xc3\x28"}', "is not UTF-8 text"),
    (b'{"haptic.strength": 5', "is not valid JSON"),
    (b"", "is not valid JSON"),
    ("NESTED", "is not valid JSON"),  # CPython: RecursionError; MicroPython: ValueError
    ("LARGE", "is larger than 4096 bytes"),
    ("FOLDER", "is a folder"),
    (b"[1, 2]", "configuration must be a JSON object"),
    (b'{"haptic.strength": 0}', "haptic.strength=0 is below 20 %"),
    (b'{"alert.ttc_stop_s": 0.3}', "alert.ttc_stop_s=0.3 is below 1.35 s"),
    (b'{"haptic.strength": "80"}', 'haptic.strength="80" is not valid'),
    (b'{"haptic.strength": [80]}', "haptic.strength=[80] is not valid"),
    (b'{"posture.cue": null}', "posture.cue=null is not valid"),
    (b'{"no.such": 1}', "unknown setting 'no.such'"),
]


def _boot_cases():
    return [case for case, _ in BAD_FILES]


@pytest.mark.micropython
def test_boot_survives_bad_config_files_in_both_runtimes(mpy, device_fs, tmp_path):
    cases = _boot_cases()
    head = f"CASES = {cases!r}\n"
    # the WASI build's garbage collector can free frames only wasm locals hold (docs/testing.md):
    # a heap this large keeps it from running during this allocation-heavy loop
    got = mpy.eval("ROOT = '/'\n" + head + BOOT, fs=device_fs, heap_kb=NO_GC_HEAP_KB)
    cpy_root = tmp_path / "cpython"
    cpy_root.mkdir()
    namespace: dict = {}
    exec(compile(f"ROOT = {str(cpy_root)!r}\n" + head + BOOT, "<boot>", "exec"), namespace)
    assert got == [[list(x) for x in namespace["result"][0]], list(namespace["result"][1])]
    out, hand_copied = got
    for i, (_case, reason) in enumerate(BAD_FILES):
        with_copy, without = out[2 * i], out[2 * i + 1]
        assert with_copy[:2] == [settings.FALLBACK_LAST_GOOD, 30], (reason, with_copy)
        assert reason in with_copy[2] and "last good copy" in with_copy[2]
        assert without[:2] == [settings.FALLBACK_DEFAULTS, 80], (reason, without)
        assert reason in without[2] and "defaults" in without[2]
    # a good config.json becomes the last good copy: once it is gone, its values stay
    assert hand_copied == [0, settings.FALLBACK_LAST_GOOD, 40]


@pytest.mark.micropython
def test_status_answers_the_fallback_and_the_mode(mpy, device_fs):
    """`retrofw.api.status()` (what `retrorun status` shows) with a refused config.json, then
    with the running app's live values."""
    (device_fs / "config.json").write_bytes(b'{"alert.mode": "treadmill", "haptic.strength": 0}')
    (device_fs / "config.bak").write_bytes(b'{"alert.mode": "treadmill"}')
    out = []
    res = mpy.run("import retrofw.api as api\napi.ROOT = '/'\napi.status()\n"
                  "api.live.update({'config_hash': 1, 'config_fallback': 0, "
                  "'alert_mode': 'outdoor'})\napi.status()\n", fs=device_fs,
                  stdout=out.append, heap_kb=NO_GC_HEAP_KB)
    assert res.exit_code == 0, res.stderr
    first, running = (json.loads(line) for line in b"".join(out).decode().splitlines())
    assert first["config_fallback"] == settings.FALLBACK_LAST_GOOD
    assert first["alert_mode"] == "treadmill"
    assert first["config_message"].startswith("config.json haptic.strength=0 is below 20 %")
    assert (running["config_fallback"], running["alert_mode"], running["config_message"]) == \
        (0, "outdoor", "")
