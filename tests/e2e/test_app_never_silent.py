"""Never silent (issue 14): each boot failure buzzes on the virtual board, read from the haptic
output as `retrorun vboard --haptics` gives it (`drive_levels`), and the motor is off on every
exit path. The FAULT rhythm asserted is docs/haptics.md's: 400 ms on, 100 off, 100 on, 100 off,
100 on, 700 off (1.5 s)."""

from __future__ import annotations

import json
import time

import pytest
from waiting import wait_until as _wait

from retrorun.devtools.vboard import wiring
from retrorun.devtools.vboard.deployed import board_folder
from retrorun.devtools.vboard.flash import Flash
from retrorun.devtools.vboard.haptic_out import drive_levels
from retrorun.devtools.vboard.repl import AppDevice
from retrorun.provision.boards import get_board

pytestmark = pytest.mark.slow

FAULT_MS = [400, 100, 100, 100, 100, 700]  # docs/haptics.md, on/off alternating from "on"
VL53L1X = {"kind": "vl53l1x", "address": 0x29}
DRV2605_ERM = {"kind": "drv2605", "address": 0x5A, "actuator": "erm"}


class Near:
    """Something 0.3-0.7 m behind the runner all the time, moving (0.8 m/s to and fro, so it
    never settles to the standing-still reminder): the app must warn (STOP) all along."""

    def distance_mm(self, t_us):
        phase = t_us % 1_000_000  # one second: 0.3 -> 0.7 -> 0.3 m
        return 300 + (phase if phase < 500_000 else 1_000_000 - phase) * 800 // 1_000_000



class Board:
    """esp32-devkitc as deployed, with parts swapped (`parts`), unplugged (`unplug`: I2C
    addresses) and the filesystem changed before power-on (`prepare(fs)`)."""

    def __init__(self, tmp_path, parts=None, unplug=(), prepare=None, scenario=None,
                 rtc=b""):
        board = get_board("esp32-devkitc")
        self.profile = {**board.profile, **(parts or {})}
        fs, flash_path = board_folder(board, tmp_path)
        (fs / "board.json").write_text(json.dumps(self.profile))
        if prepare is not None:
            prepare(fs)
        self.fs = fs
        self.flash = Flash(flash_path)
        hw = wiring.from_profile(self.profile,
                                 distance_mm=getattr(scenario, "distance_mm", None))
        hw.rtc_memory = rtc
        for address in unplug:
            hw.i2c[0].devices.pop(address)
        self.led: list[tuple[int, int]] = []
        hw.pin_listeners.setdefault(self.profile["led"]["pin"], []).append(
            lambda level: self.led.append((hw.now_us, level)))
        self.out = bytearray()
        self.hw = hw
        self.at_exit: list[tuple[str, float]] = []  # (reset / deep sleep, drive then)
        board_self = self

        class ExitSpy(list):
            def append(self, item):
                if item[1].startswith(("reset", "deep sleep")) and \
                        not item[1].startswith("deep sleep ends"):
                    board_self.at_exit.append((item[1].split()[0], board_self.level_now()))
                super().append(item)

        hw.log = ExitSpy(hw.log)
        self.dev = AppDevice(fs, self.out.extend, board=self.profile, flash=self.flash,
                             hardware=hw)

    def level_now(self):
        points = drive_levels(self.hw, self.profile)
        return points[-1][1] if points else 0.0

    def levels(self):
        with self.hw.lock:
            return drive_levels(self.hw, self.profile)

    def run_until(self, us):
        assert _wait(lambda: self.hw.now_us >= us), self.out[-500:]

    def resets(self):
        return [w for _, w in self.hw.log if w.startswith(("reset", "watchdog"))]

    def close(self):
        self.dev.close()
        self.flash.close()


@pytest.fixture
def make_board(tmp_path):
    boards = []

    def make(**kw):
        boards.append(Board(tmp_path / str(len(boards)), **kw))
        return boards[-1]

    yield make
    for b in boards:
        b.close()


def _segments(points, until_us):
    """[(start_us, on, ms)] of the on/off stretches of a [(t_us, level)] timeline."""
    out = []
    if not points:
        return out
    for (t, level), nxt in zip(points, [*points[1:], (until_us, None)], strict=True):
        on = level > 0
        if out and out[-1][1] == on:
            out[-1] = (out[-1][0], on, out[-1][2] + (nxt[0] - t) / 1000)
        else:
            out.append((t, on, (nxt[0] - t) / 1000))
    return out


def assert_fault_rhythm(points, boot_us, until_us, first_within_ms=1000):
    segs = [s for s in _segments(points, until_us) if s[0] >= boot_us]
    first = next((i for i, s in enumerate(segs) if s[1]), None)
    assert first is not None, "silent: the output never turned on"
    assert (segs[first][0] - boot_us) / 1000 <= first_within_ms, segs[:3]
    got = [round(ms) for _t, _on, ms in segs[first:first + 12]]
    assert len(got) == 12, segs
    for ms, want in zip(got, FAULT_MS * 2, strict=True):
        assert abs(ms - want) <= 25, (got, FAULT_MS)


def assert_warns(points, boot_us, within_ms=1000):
    on = [t for t, level in points if level >= 0.5 and t >= boot_us]
    assert on and (on[0] - boot_us) / 1000 <= within_ms, points[:6]


# -- boot failures -----------------------------------------------------------------------------
def test_a_folder_named_like_a_session_is_quarantined_and_the_app_warns(make_board):
    def prepare(fs):
        (fs / "sessions" / "000099.rrl").mkdir(parents=True)
        (fs / "sessions" / "000007.rrl").write_bytes(b"foreign\n" * 100)

    b = make_board(prepare=prepare, scenario=Near())
    b.run_until(3_000_000)
    assert_warns(b.levels(), 0)
    assert b.resets() == [], b.out[-800:]
    assert sorted(p.name for p in (b.fs / "sessions" / "quarantine").iterdir()) == [
        "000007.rrl", "000099.rrl"]


def test_no_distance_sensor_at_boot_plays_fault(make_board):
    b = make_board(parts={"distance": VL53L1X}, unplug=(0x29,))
    b.run_until(6_000_000)
    assert_fault_rhythm(b.levels(), 0, 6_000_000)
    assert b.resets() == [], b.out[-800:]


def test_no_haptic_driver_at_boot_blinks_fault_on_the_led(make_board):
    b = make_board(parts={"haptic": DRV2605_ERM}, unplug=(0x5A,))
    b.run_until(6_000_000)
    led_on = 0 if b.profile["led"].get("active_low") else 1
    points = [(t, 1.0 if level == led_on else 0.0) for t, level in b.led]
    assert_fault_rhythm(points, 0, 6_000_000)
    assert b.resets() == [], b.out[-800:]


def test_an_app_that_cannot_load_plays_fault_on_the_motor(make_board):
    def prepare(fs):
        for old in (fs / "lib" / "retrofw").glob("steps.*"):
            old.unlink()
        (fs / "lib" / "retrofw" / "steps.py").write_text("raise RuntimeError('damaged')\n")

    b = make_board(prepare=prepare)
    b.run_until(6_000_000)
    assert_fault_rhythm(b.levels(), 0, 6_000_000)
    assert b.resets() == [], b.out[-800:]



# -- exit paths: the motor is off ----------------------------------------------------------------
def test_ctrl_c_turns_the_motor_off(make_board):
    b = make_board(scenario=Near())
    b.run_until(2_000_000)
    assert b.levels()[-1][1] > 0.5, "STOP: continuous"
    b.dev.on_data(b"\x03")
    assert _wait(lambda: b">>> " in b.out), b.out[-500:]
    time.sleep(0.3)
    assert b.levels()[-1][1] == 0.0


def test_an_exception_escaping_a_task_turns_the_motor_off_before_the_reset(make_board):
    b = make_board(scenario=Near())
    b.run_until(2_000_000)
    assert b.levels()[-1][1] > 0.5
    sessions = b.fs / "sessions"
    for p in sessions.iterdir():
        p.unlink()
    sessions.rmdir()
    sessions.write_text("not a folder")  # starting a session raises (ENOTDIR) in the button task
    with b.hw.lock:
        b.hw.press_button(b.profile["button"]["pin"], b.hw.now_us + 100_000, 150_000)
    assert _wait(lambda: b.at_exit), b.out[-800:]
    assert b.at_exit[0] == ("reset", 0.0), b.at_exit
    assert b.hw.rtc_memory == b"rr\x01", "one crash boot counted (RTC memory)"


def test_deep_sleep_turns_the_motor_off(make_board):
    b = make_board(scenario=Near())
    b.run_until(2_000_000)
    with b.hw.lock:
        b.hw.press_button(b.profile["button"]["pin"], b.hw.now_us + 100_000, 3_000_000)
    assert _wait(lambda: b.at_exit), b.out[-800:]
    assert b.at_exit[0] == ("deep", 0.0), b.at_exit


def test_main_stops_a_drv2605_left_driving_by_a_reset(make_board):
    """A DRV2605L keeps its RTP drive across an ESP32 reset: main.py stops it before anything
    else (here the button is held, so the app itself never starts)."""
    b = make_board(parts={"haptic": DRV2605_ERM}, scenario=Near())
    b.run_until(2_000_000)
    assert b.levels()[-1][1] > 0.5
    pin = b.profile["button"]["pin"]
    with b.hw.lock:
        b.hw.drive(pin, 0)  # held through the reset: safe mode
        b.hw.request_reset("hard", 4)  # the watchdog (no exit path ran)
    assert _wait(lambda: b"safe mode" in b.out), b.out[-800:]
    time.sleep(0.3)
    assert b.levels()[-1][1] == 0.0


def test_after_repeated_crash_boots_the_app_warns_without_logging(make_board):
    b = make_board(scenario=Near(), rtc=b"rr\x03")  # three crash resets in a row
    b.run_until(1_500_000)
    with b.hw.lock:
        b.hw.press_button(b.profile["button"]["pin"], b.hw.now_us + 100_000, 150_000)
    b.run_until(3_000_000)
    assert_warns(b.levels(), 0)
    assert b"minimal mode" in b.out
    assert not list((b.fs / "sessions").glob("*.rrl")), "no session recorded"
    assert b.resets() == []
