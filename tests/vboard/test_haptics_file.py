"""`retrorun vboard --haptics FILE`: the board's haptic output as JSON lines, for any profile."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from retrorun.devtools.sim.scenario import SCENARIO_DIR
from retrorun.devtools.vboard.deployed import board_folder
from retrorun.devtools.vboard.haptic_out import drive_levels
from retrorun.provision.boards import get_board


def test_pwm_duty_and_drv2605_drive_become_levels():
    pwm = [(0, 26, 200, 0), (1000, 26, 200, 32768), (1000, 26, 200, 65535), (5000, 26, 0, 0)]
    hw = SimpleNamespace(haptic_timeline=lambda pin: pwm, i2c={})
    assert drive_levels(hw, {"haptic": {"kind": "erm_pwm", "pin": 26}}) == [
        (0, 0.0), (1000, 1.0), (5000, 0.0)]  # the same instant keeps its last duty
    chip = SimpleNamespace(drive_timeline=[(10, 0.0), (20, 0.5), (30, -0.25), (40, 0.0)])
    hw = SimpleNamespace(i2c={0: SimpleNamespace(devices={0x5A: chip})})
    assert drive_levels(hw, {"haptic": {"kind": "drv2605", "address": 0x5A}}) == [
        (10, 0.0), (20, 0.5), (30, 0.25), (40, 0.0)]  # braking (reverse) is drive too


@pytest.mark.slow
def test_the_vboard_writes_the_motor_output_of_the_running_app(tmp_path):
    fs, flash = board_folder(get_board("esp32-devkitc"), tmp_path)
    out = tmp_path / "haptics.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrorun", "vboard", "--mode", "app", "--fs", str(fs),
         "--flash", str(flash), "--scenario", str(SCENARIO_DIR / "wall_2.0mps_hcsr04.json"),
         "--haptics", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        lines = []
        while time.monotonic() < deadline:
            lines = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
            if any(p["level"] >= 0.5 for p in lines) and lines[-1]["level"] == 0.0:
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0, proc.stderr.read()
    assert lines and all(set(p) == {"t_s", "level"} for p in lines)
    assert all(0.0 <= p["level"] <= 1.0 for p in lines)
    times = [p["t_s"] for p in lines]
    assert times == sorted(times) and times[0] >= 0
    # the wall is 40 m away at 2 m/s after a 2 s start: nothing to warn of in the first 10 s
    assert all(p["level"] == 0.0 for p in lines if p["t_s"] < 10), lines[:5]
    assert any(p["level"] >= 0.5 for p in lines)
