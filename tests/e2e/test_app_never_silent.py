"""Never silent (issue 14): the motor is off on every exit path, a DRV2605L left driving by a
reset is stopped, and repeated crash boots start a warnings-only mode, read from the haptic
output as `retrorun vboard --haptics` gives it (`drive_levels`). The boot failures and the
faults at run time (Ctrl-C among them) are in test_fault_injection*.py."""

from __future__ import annotations

import errno
import time

import pytest
from fault_board import DRV2605_ERM, Near
from waiting import wait_until as _wait

pytestmark = pytest.mark.slow


def assert_warns(points, boot_us, within_ms=1000):
    on = [t for t, level in points if level >= 0.5 and t >= boot_us]
    assert on and (on[0] - boot_us) / 1000 <= within_ms, points[:6]


# -- exit paths: the motor is off ----------------------------------------------------------------
def test_an_exception_escaping_a_task_turns_the_motor_off_before_the_reset(make_board):
    b = make_board(world=Near())
    b.run_until(2_000_000)
    assert b.levels()[-1][1] > 0.5
    # the battery's ADC read fails from now on (OSError EIO): it escapes the battery task
    adc_pin = b.profile["battery"]["adc"]

    def failing(_t_us):
        raise OSError(errno.EIO, "ADC read failed")

    with b.hw.lock:
        b.hw.set_adc(adc_pin, failing)
    assert _wait(lambda: b.at_exit), b.out[-800:]
    assert b.at_exit[0] == ("reset", 0.0), b.at_exit
    # read as the reset left it: the next boot fails the same way and counts again
    assert b.rtc_at_exit[0] == b"rr\x01", "one crash boot counted (RTC memory)"


def test_deep_sleep_turns_the_motor_off(make_board):
    b = make_board(world=Near())
    b.run_until(2_000_000)
    with b.hw.lock:
        b.hw.press_button(b.profile["button"]["pin"], b.hw.now_us + 100_000, 3_000_000)
    assert _wait(lambda: b.at_exit), b.out[-800:]
    assert b.at_exit[0] == ("deep", 0.0), b.at_exit


def test_main_stops_a_drv2605_left_driving_by_a_reset(make_board):
    """A DRV2605L keeps its RTP drive across an ESP32 reset: main.py stops it before anything
    else (here the button is held, so the app itself never starts)."""
    b = make_board(parts={"haptic": DRV2605_ERM}, world=Near())
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
    b = make_board(world=Near(), rtc=b"rr\x03")  # three crash resets in a row
    b.run_until(1_500_000)
    with b.hw.lock:
        b.hw.press_button(b.profile["button"]["pin"], b.hw.now_us + 100_000, 150_000)
    b.run_until(3_000_000)
    assert_warns(b.levels(), 0)
    assert b"minimal mode" in b.out
    assert not list((b.fs / "sessions").glob("*.rrl")), "no session recorded"
    assert b.resets() == []
