"""The configuration schema: validation messages, atomic save, fallback at boot, stable hash;
the same answers in CPython and MicroPython."""

import json

import pytest

from retrofw import settings

CONTRACT_DEFAULTS = {
    "alert.mode": "outdoor", "alert.notice_m": 4.0, "alert.warning_m": 2.5, "alert.stop_m": 1.2,
    "alert.ttc_warning_s": 2.5, "alert.ttc_stop_s": 1.5, "alert.hysteresis_m": 0.3,
    "alert.fault_timeout_ms": 500, "alert.treadmill_min_m": 0.5, "haptic.strength": 80,
    "steps.rate_hz": 50, "posture.cue": False, "posture.cue_deg": 25.0, "posture.cue_s": 5,
    "log.sample_period_ms": 1000, "log.flush_ms": 5000, "log.snapshot_s": 3.0,
    "session.auto_start": False, "usb.live": True,
    "ble.enabled": True, "ble.name": "", "storage.min_free_kb": 256,
}

VALIDATION = r"""
from retrofw import settings
cases = [
    {'alert.fault_timeout_ms': 50},
    {'alert.fault_timeout_ms': 1000},
    {'alert.fault_timeout_ms': 500.5},
    {'alert.fault_timeout_ms': True},
    {'haptic.strength': 101},
    {'alert.mode': 'beach'},
    {'posture.cue': 1},
    {'ble.name': 'x' * 21},
    {'ble.name': 'run\n'},
    {'ble.name': 'Retro 1'},
    {'alert.notice_m': 3},
    {'alert.stop_m': 3.0},
    {'no.such': 1},
    {'steps.rate_hz': 24, 'haptic.strength': -1},
]
out = []
for c in cases:
    values, errors = settings.validate(c)
    out.append([errors, [values[k] for k in sorted(c) if k in values]])
result = [out, settings.config_hash(settings.defaults()),
          settings.config_hash(settings.validate({'alert.notice_m': 5})[0])]
"""


def test_contract_keys_and_defaults():
    assert settings.defaults() == CONTRACT_DEFAULTS
    assert settings.keys() == list(CONTRACT_DEFAULTS)
    for entry in settings.describe():
        assert entry["description"] and "type" in entry


def test_validation_messages_and_hash_agree_in_both_runtimes(both):
    out, default_hash, other_hash = both.run(VALIDATION)
    errors = [e for e, _ in out]
    assert errors[0] == ["alert.fault_timeout_ms=50 is out of range: valid 100..1000 ms"]
    assert errors[1] == []
    assert "must be a whole number" in errors[2][0]
    assert errors[3] == ["alert.fault_timeout_ms=true is not valid: valid 100..1000 ms"]
    assert errors[4] == ["haptic.strength=101 is out of range: valid 20..100 %"]
    assert errors[5] == ['alert.mode="beach" is not valid: valid one of outdoor|track|treadmill']
    assert errors[6] == ["posture.cue=1 is not valid: valid true or false"]
    assert "at most 20 printable ASCII" in errors[7][0]
    assert errors[8] and errors[9] == []
    assert errors[10] == [] and out[10][1] == [3.0]  # an int is accepted for a float
    assert errors[11] == ["alert.warning_m=2.5 must be at least 0.3 m (one 0.6 s reaction at "
                          "0.5 m/s) above alert.stop_m=3.0: WARNING must come that long before "
                          "STOP (docs/config.md)"]
    assert errors[12] == ["unknown setting 'no.such'"]
    assert len(errors[13]) == 2
    assert default_hash != other_hash
    assert default_hash == settings.config_hash(settings.defaults())


def test_every_range_is_enforced_at_both_ends():
    for entry in settings.describe():
        if "min" not in entry:
            continue
        key = entry["key"]
        assert settings.check_value(key, entry["min"])[1] is None
        assert settings.check_value(key, entry["max"])[1] is None
        step = 1 if entry["type"] == "int" else 0.01
        for bad, shown in ((entry["min"] - step, entry["min"]), (entry["max"] + step,
                                                                 entry["max"])):
            value, err = settings.check_value(key, bad)
            assert value is None and key in err and str(shown) in err


def test_parse_value_from_command_line_text():
    assert settings.parse_value("posture.cue", "on") is True
    assert settings.parse_value("alert.notice_m", "3.5") == 3.5
    assert settings.parse_value("haptic.strength", "40") == 40
    with pytest.raises(KeyError):
        settings.parse_value("nope", "1")


BOOT = r"""
from retrofw import settings
import os
def files():
    return sorted(n for n in os.listdir('/') if n.startswith('config'))
log = []
log.append(settings.load('/'))  # first boot: defaults, no fault
v, errors = settings.set_values('/', {'haptic.strength': 30})
log.append([errors, files()])
log.append(settings.load('/'))
with open('/config.json', 'w') as f:
    f.write('{"haptic.strength": 3')  # torn write / flash damage
log.append(settings.load('/'))
with open('/config.bak', 'w') as f:
    f.write('{"haptic.strength": 300}')
log.append(settings.load('/'))
result = [[x[1], x[2], x[0]['haptic.strength']] if len(x) == 3 else x for x in log]
"""


@pytest.mark.micropython
def test_boot_falls_back_to_last_good_copy_then_defaults(mpy, device_fs, tmp_path):
    got = mpy.eval(BOOT, fs=device_fs)
    assert got[0] == [0, "", 80]
    assert got[1] == [[], ["config.bak", "config.json"]], "no temp file left behind"
    assert got[2] == [0, "", 30]
    assert got[3][0] == settings.FALLBACK_LAST_GOOD and got[3][2] == 30
    assert "not valid JSON" in got[3][1]
    assert got[4][0] == settings.FALLBACK_DEFAULTS and got[4][2] == 80
    assert "haptic.strength=300 is out of range" in got[4][1]
    # CPython gives the same answers on its own copy of the files
    import os

    os.chdir(tmp_path)
    (tmp_path / "dev").mkdir()
    assert settings.load(str(tmp_path / "dev")) == (settings.defaults(), 0, "")
    values, errors = settings.set_values(str(tmp_path / "dev"), {"haptic.strength": 30})
    assert values["haptic.strength"] == 30
    assert errors == [] and json.loads((tmp_path / "dev/config.json").read_text()) == \
        {"haptic.strength": 30}


def test_docs_table_matches_the_schema():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")
            for line in doc.splitlines() if line.startswith("| `")}
    assert list(rows) == settings.keys()
    for entry in settings.describe():
        cells = [c.strip() for c in rows[entry["key"]]]
        default = entry["default"]
        shown = {True: "true", False: "false", "": '""'}.get(default, str(default)) \
            if not isinstance(default, (int, float)) or isinstance(default, bool) else str(default)
        assert cells[4] == shown, entry["key"]
        if "min" in entry:
            assert cells[5] == f"{entry['min']} .. {entry['max']}", entry["key"]
