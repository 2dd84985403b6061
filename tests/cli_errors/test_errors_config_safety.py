"""Issue 14 on the laptop: `retrorun config validate/set` refuse a silencing or late-STOP config
naming the broken rule, treadmill mode needs a confirmation, and `retrorun status` shows the
mode and a config fallback. Numbers come from the stopping physics written here."""

from __future__ import annotations

import json

import pytest

from retrorun.cli.main import main

# 0.2 s device + 0.4 s human reaction, braking at 3 m/s^2, closing at up to 4.5 m/s (assumed)
FAST = 4.5
NEED_M = FAST * 0.6 + FAST**2 / (2 * 3)  # 6.075 m
TTC_FLOOR = NEED_M / FAST  # 1.35 s


def _file(work, values: dict) -> str:
    (work / "c.json").write_text(json.dumps(values))
    return "c.json"


def test_config_validate_refuses_strength_zero(fails, work):
    err = fails(["config", "validate", _file(work, {"haptic.strength": 0})])
    assert err == ("retrorun: c.json: haptic.strength=0 is below 20 %: weaker vibration may not "
                   "be felt while running (assumed ERM/LRA minimum; STOP and FAULT always play "
                   "at full strength; docs/config.md)")


def test_config_validate_refuses_the_old_minimums_naming_the_rule(fails, work):
    old = {"alert.notice_m": 0.5, "alert.warning_m": 0.3, "alert.stop_m": 0.2,
           "alert.ttc_warning_s": 0.5, "alert.ttc_stop_s": 0.3}
    err = fails(["config", "validate", _file(work, old)])
    assert (f"alert.ttc_stop_s=0.3 is below {TTC_FLOOR:.2f} s: at {FAST} m/s closing, STOP must "
            f"come {NEED_M:.1f} m before contact (0.6 s reaction + braking at 3 m/s^2; "
            "docs/config.md)") in err
    for key in old:
        assert f"{key}={old[key]} is below" in err


def test_config_set_refuses_a_late_stop_before_opening_the_port(fails):
    err = fails(["config", "set", "--port", "/dev/ttyNOPE", "alert.ttc_stop_s=1.3"])
    assert err.startswith(f"retrorun: alert.ttc_stop_s=1.3 is below {TTC_FLOOR:.2f} s: ")


def test_config_set_treadmill_needs_yes_without_a_terminal(fails):
    err = fails(["config", "set", "--port", "/dev/ttyNOPE", "alert.mode=treadmill"])
    assert err.startswith("retrorun: alert.mode=treadmill turns off time to contact: only the "
                          "distance to the console warns")
    assert f"{0.35 / FAST:.2f} s before contact" in err and err.endswith("confirm with --yes")


def test_config_set_treadmill_with_yes_goes_on_to_the_device(fails):
    err = fails(["config", "set", "--port", "/dev/ttyNOPE", "--yes", "alert.mode=treadmill"])
    assert "treadmill" not in err and "ttyNOPE" in err


@pytest.mark.parametrize("answer, reaches_device", [("n", False), ("", False), ("y", True)])
def test_config_set_treadmill_asks_at_a_terminal(fails, monkeypatch, answer, reaches_device):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: answer)
    err = fails(["config", "set", "--port", "/dev/ttyNOPE", "alert.mode=treadmill"])
    assert ("ttyNOPE" in err) == reaches_device
    if not reaches_device:
        assert err == "retrorun: not changed: alert.mode stays as it is"


def test_config_validate_notes_treadmill_mode(work, capsys):
    assert main(["config", "validate", _file(work, {"alert.mode": "treadmill"})]) == 0
    out = capsys.readouterr().out
    assert "valid (1 settings)" in out and "turns off time to contact" in " ".join(out.split())


class _FakeTransport:
    def __init__(self, status):
        self._status = status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def status(self):
        return dict(self._status)


@pytest.mark.parametrize("fallback, mode, shown", [
    (0, "outdoor", ["ok", "outdoor"]),
    (1, "treadmill", ["FALLBACK: the last good copy", "TREADMILL: distance to the console"]),
    (2, "track", ["FALLBACK: the defaults", "config.json is not UTF-8 text", "track"]),
])
def test_status_shows_config_fallback_and_mode(work, capsys, monkeypatch, fallback, mode, shown):
    answer = {"ok": True, "firmware": "x", "sessions": 0, "unsynced": 0,
              "config_fallback": fallback, "alert_mode": mode,
              "config_message": "config.json is not UTF-8 text; using defaults" if fallback == 2
              else ""}
    monkeypatch.setattr("retrorun.cli.commands.status.open_transport",
                        lambda args: _FakeTransport(answer))
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["status", "--port", "/dev/ttyFAKE"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in shown:
        assert text in out
    assert ("FALLBACK" in out) == bool(fallback) and ("TREADMILL" in out) == (mode == "treadmill")
