"""Fault injection on the real app (issue 14, item 8): faults while it runs.

A session is recorded from 0.5 s (a button press); the fault comes at 6 s of board time
(FAULT_US). Each test asserts from the haptic timeline (`drive_levels`, board time) that
within 1 s of the fault the device warns as usual (an obstacle appears behind the runner at
the fault: its pattern) or plays FAULT, and that no session data is lost: every record the
session had on flash at the fault is still there, byte for byte, and the sessions already on
flash decode with every record. Boot failures: test_fault_injection.py.

| kind | test | what the runner feels |
|---|---|---|
| sensor unplugged | test_a_sensor_fault_plays_fault[*-unplugged] | FAULT |
| sensor stuck (HC-SR04 echo never rises, frozen VL53L1X) | ...[hcsr04-stuck], [vl53l1x-frozen] | FAULT |
| sensor blinded (TF-Luna overexposed) | ...[tfluna-overexposed] | FAULT |
| VL53L1X in sunlight: reduced range, not blind | tests/e2e/test_reduced_range.py | the reduced-range cue, EV_RANGE |
| I2C bus held low, sensor on it | test_sda_held_low_under_the_sensor_plays_fault | FAULT |
| I2C bus held low, IMU only | test_sda_held_low_under_the_imu_warns_as_usual | STOP |
| motor driver NACKs for a while | test_a_motor_driver_nack_mid_run_warns_again | WARNING again |
| motor driver lost mid-run | test_a_motor_driver_lost_mid_run_shows_fault_on_the_led | FAULT on the LED |
| flash full mid-session | test_a_full_flash_mid_session_warns_and_keeps_the_records | STOP |
| flash full, a session started | test_a_session_started_on_a_full_flash_does_not_stop_the_warning | STOP unbroken |
| a hung task | test_a_hung_task_is_reset_by_the_watchdog_and_warns_again | STOP after the reset |
| power cut mid-write | test_a_power_cut_mid_write_is_salvaged_at_the_next_boot | STOP after the boot |
| Ctrl-C | test_ctrl_c_stops_the_motor_closes_the_session_and_the_app_warns_after_the_reboot | off, STOP after |
"""

from __future__ import annotations

import time

import pytest
from fault_board import FaultBoard, Script, Wobble, assert_kept, assert_plays, first_pattern
from waiting import wait_until

from retrorun.devtools.vboard import faults
from retrorun.sessions.logs import decode_bytes

pytestmark = pytest.mark.slow

FAULT_US = 6_000_000
SESSION_US = 500_000  # the button press that starts the session
NEAR_MM = 500  # STOP
WARN_MM = 2000  # WARNING (4 Hz)
# records reach the flash within 1 s, a sample block every 2.4 s: a few on flash at the fault
RECORDING = {"log.flush_ms": 1000, "log.sample_period_ms": 200}


@pytest.fixture
def make_board(tmp_path):
    boards = []

    def make(**kw):
        kw.setdefault("history", (30,))
        kw.setdefault("config", RECORDING)
        boards.append(FaultBoard(tmp_path / str(len(boards)), **kw))
        boards[-1].press(SESSION_US)
        return boards[-1]

    yield make
    for b in boards:
        b.close()


def recording(b: FaultBoard) -> str:
    """The name of the session recorded in the test (not one of the history)."""
    names = [n for n in b.session_files() if n not in b.history]
    assert len(names) == 1, names
    return names[0]


def close_and_check(b: FaultBoard, before: dict[str, bytes], at_us: int) -> dict:
    """Stop the session with a press at `at_us`; every record it had at the fault is kept;
    the history is intact. Returns the recorded session's decoded records."""
    b.press(at_us)
    b.run_until(at_us + 500_000)
    name = recording(b)
    after = b.session_files()[name]
    kept = assert_kept(before[name], after)
    b.assert_history_intact()
    print("records on flash at the fault, kept:", kept)
    return decode_bytes(after).records


# -- the distance sensor -----------------------------------------------------------------
def _unplug(b):
    faults.unplug_distance(b.hw, b.profile, at_us=FAULT_US)


def _chip(fault):
    def inject(b):
        faults.sensor_fault(b.hw, b.profile, fault, at_us=FAULT_US)
    return inject


SENSOR_FAULTS = [
    # (id, board, injection)
    ("hcsr04-unplugged", "esp32-devkitc", _unplug),
    ("vl53l1x-unplugged", "esp32-s3-devkitc-1", _unplug),
    ("tfluna-unplugged", "xiao-esp32s3", _unplug),
    ("hcsr04-stuck", "esp32-devkitc", _chip("stuck_low")),
    ("vl53l1x-frozen", "esp32-s3-devkitc-1", _chip("frozen")),
    ("tfluna-overexposed", "xiao-esp32s3", _chip("overexposed")),
]


@pytest.mark.parametrize(("board", "inject"), [f[1:] for f in SENSOR_FAULTS],
                         ids=[f[0] for f in SENSOR_FAULTS])
def test_a_sensor_fault_plays_fault(make_board, board, inject):
    b = make_board(board=board, world=Script((0, None)))
    inject(b)
    before = b.sessions_at(FAULT_US)
    b.run_until(FAULT_US + 4_000_000)
    print("fault -> FAULT", assert_plays(b.levels(), "fault", FAULT_US, FAULT_US + 4_000_000),
          "ms")
    assert b.resets() == [], b.out[-800:]
    records = close_and_check(b, before, FAULT_US + 4_500_000)
    assert [r for r in records if r["kind"] == "event" and r["event"] == "sensor"
            and r["active"] == 1], "the fault is in the session log"


# -- the I2C bus -------------------------------------------------------------------------
def test_sda_held_low_under_the_sensor_plays_fault(make_board):
    """esp32-devkitc with a VL53L1X on the bus (the motor is a PWM pin)."""
    b = make_board(parts={"distance": {"kind": "vl53l1x", "address": 0x29}},
                   world=Script((0, None)))
    faults.hold_sda_low(b.hw, 0, at_us=FAULT_US)
    before = b.sessions_at(FAULT_US)
    b.run_until(FAULT_US + 4_000_000)
    print("SDA low -> FAULT", assert_plays(b.levels(), "fault", FAULT_US,
                                           FAULT_US + 4_000_000), "ms")
    assert b.hw.i2c_timeouts > 10, "the transfers really failed"
    assert b.resets() == [], b.out[-800:]
    close_and_check(b, before, FAULT_US + 4_500_000)


def test_sda_held_low_under_the_imu_warns_as_usual(make_board):
    """esp32-devkitc as wired: only the IMU is on the bus; warnings go on, steps stop."""
    b = make_board(world=Script((0, None), (FAULT_US, NEAR_MM)))
    faults.hold_sda_low(b.hw, 0, at_us=FAULT_US)
    before = b.sessions_at(FAULT_US)
    b.run_until(FAULT_US + 2_000_000)
    print("SDA low -> STOP", assert_plays(b.levels(), "stop", FAULT_US, FAULT_US + 2_000_000),
          "ms")
    assert b.hw.i2c_timeouts > 5, "the IMU's transfers really failed"
    assert b.resets() == [], b.out[-800:]
    close_and_check(b, before, FAULT_US + 2_500_000)


def test_a_motor_driver_nack_mid_run_warns_again(make_board):
    """xiao-esp32s3 (DRV2605L, ERM): WARNING plays; the driver NACKs for 300 ms; once it
    answers, the next motor change sets it up again and the rhythm is back."""
    b = make_board(board="xiao-esp32s3", world=Wobble(WARN_MM, 200, 2_000_000))
    faults.nack(b.hw, 0x5A, at_us=FAULT_US, for_us=300_000)
    before = b.sessions_at(FAULT_US)
    b.run_until(FAULT_US + 3_000_000)
    points = b.levels()
    assert first_pattern(points, 2_000_000, FAULT_US)[0] == "warning"
    back = FAULT_US + 300_000
    assert not [t for t, _ in points if FAULT_US + 20_000 < t < back], "frozen while it NACKs"
    print("NACK over -> WARNING", assert_plays(points, "warning", back, FAULT_US + 3_000_000),
          "ms")
    assert b.resets() == [], b.out[-800:]
    close_and_check(b, before, FAULT_US + 3_500_000)


LOST_MOTOR = [("nack", lambda b: faults.nack(b.hw, 0x5A, at_us=FAULT_US)),
              ("sda-low", lambda b: faults.hold_sda_low(b.hw, 0, at_us=FAULT_US))]


@pytest.mark.parametrize("inject", [x[1] for x in LOST_MOTOR], ids=[x[0] for x in LOST_MOTOR])
def test_a_motor_driver_lost_mid_run_shows_fault_on_the_led(make_board, inject):
    """xiao-esp32s3: the DRV2605L stops answering for good; the sensor (UART) still sees an
    obstacle coming. The runner must be told the device cannot warn: the LED plays FAULT
    (as at boot without a motor driver)."""
    b = make_board(board="xiao-esp32s3", world=Script((0, None), (FAULT_US, NEAR_MM)))
    inject(b)
    before = b.sessions_at(FAULT_US)
    b.run_until(FAULT_US + 4_000_000)
    close_and_check(b, before, FAULT_US + 4_500_000)
    got, t0, ms = first_pattern(b.led_levels(), FAULT_US, FAULT_US + 4_000_000)
    assert got == "fault" and t0 - FAULT_US <= 1_000_000, (got, t0, ms)


# -- storage -----------------------------------------------------------------------------
def test_a_full_flash_mid_session_warns_and_keeps_the_records(make_board):
    b = make_board(world=Script((0, None), (FAULT_US + 200_000, NEAR_MM)), space=True)
    b.flash_space.fill(0, at_us=FAULT_US)
    before = b.sessions_at(FAULT_US)
    b.run_until(FAULT_US + 8_000_000)  # past a flush (log.flush_ms 5 s): it is refused
    print("flash full -> STOP", assert_plays(b.levels(), "stop", FAULT_US,
                                             FAULT_US + 8_000_000), "ms")
    assert b.flash_space.refused, "a write met the full flash"
    assert b.resets() == [], b.out[-800:]
    close_and_check(b, before, FAULT_US + 8_500_000)


def test_a_session_started_on_a_full_flash_does_not_stop_the_warning(make_board):
    """STOP plays; the flash is full; the runner presses the button to record. Nothing can be
    recorded, but the warning must go on without a break (a reset is a gap, and three of them
    in a row put the device in minimal mode)."""
    b = make_board(world=Wobble(NEAR_MM), free_bytes=0, history=())
    b.press(FAULT_US)  # (the fixture's press at 0.5 s started nothing either)
    b.run_until(FAULT_US + 2_000_000)
    got, t0, ms = first_pattern(b.levels(), 0, FAULT_US + 2_000_000)
    assert got == "stop" and sum(ms[:1]) >= (FAULT_US + 2_000_000 - t0) / 1000 - 1, ms
    assert b.resets() == [], b.out[-800:]


def test_a_power_cut_mid_write_is_salvaged_at_the_next_boot(make_board):
    """The power goes while a flush is written: 7 bytes of it reach the flash (a torn tail).
    The next boot cuts the tail at the last whole record and closes the session."""
    b = make_board(world=Script((0, None), (FAULT_US, NEAR_MM)), space=True)
    b.flash_space.cut_power_in_write("/sessions/*.rrl", 7, at_us=FAULT_US)
    b.run_until(FAULT_US + 8_000_000)
    assert b.flash_space.cut_at is not None, "no session write came"
    cut_us, path, asked, _written = b.flash_space.cut_at
    name = path.rsplit("/", 1)[1]
    boot_us = b.dev._boot_us
    assert boot_us >= cut_us and b.hw.reset_cause == 1  # POWERON_RESET
    print("power cut at", cut_us // 1000, "ms in a write of", asked, "bytes")
    print("boot -> STOP", assert_plays(b.levels(), "stop", boot_us, boot_us + 3_000_000), "ms")
    data = b.session_files()[name]
    print("records on flash before the torn write, kept:",
          assert_kept(b.flash_space.before_cut, data))
    got = decode_bytes(data)
    assert not got.problems, got.problems
    recovered = [r for r in got.records if r["kind"] == "event" and r["event"] == "recovered"]
    assert [r["dropped_bytes"] for r in recovered] == [7], "the torn 7 bytes, nothing else"
    assert got.records[-1]["kind"] == "footer" and got.records[-1]["recovered"]
    b.assert_history_intact()


# -- the app -----------------------------------------------------------------------------
def test_a_hung_task_is_reset_by_the_watchdog_and_warns_again(make_board):
    """The IMU task never returns from a FIFO read (everything stops: one asyncio loop);
    the watchdog (8 s) resets the board, which warns again after the reset."""
    b = make_board(world=Script((0, None), (FAULT_US, NEAR_MM)))
    faults.hang(b.hw, faults.i2c_call_to(b.profile["imu"]["address"]), at_us=FAULT_US)
    before = b.sessions_at(FAULT_US)
    assert wait_until(lambda: b.events("watchdog expired")), b.out[-800:]
    reset_us = b.events("watchdog expired")[0]
    b.run_until(reset_us + 3_000_000)
    hung_us = b.events("hung in")[0]
    print("hung ->", (reset_us - hung_us) // 1000, "ms silent -> watchdog reset")
    print("reset -> STOP", assert_plays(b.levels(), "stop", reset_us, reset_us + 3_000_000),
          "ms")
    assert reset_us - hung_us <= 8_000_000 + 1_000_000
    name = next(n for n in before if n not in b.history)
    after = b.session_files()[name]
    assert_kept(before[name], after)
    assert decode_bytes(after).records[-1]["recovered"], "closed by the boot's recovery"
    b.assert_history_intact()


def test_ctrl_c_stops_the_motor_closes_the_session_and_the_app_warns_after_the_reboot(
        make_board):
    """Ctrl-C (every USB command of the host starts with one) while STOP plays: the motor goes
    off and the session is closed with what it had in RAM (the open block of samples: 12 to a
    record, one a second); the host's soft reboot (Ctrl-D) starts the app again, which warns."""
    # moving: a static object would settle to the reminder while a loaded host lets the board
    # run on past FAULT_US before the Ctrl-C is sent
    b = make_board(world=Wobble(NEAR_MM, 200, FAULT_US - 1_000_000),
                   config={"log.flush_ms": 5000})
    b.run_until(FAULT_US)
    assert b.level_now() > 0.5, "STOP: continuous"
    before = b.session_files()
    sent_us = b.hw.now_us
    b.dev.on_data(b"\x03")
    assert wait_until(lambda: b">>> " in b.out), b.out[-500:]
    time.sleep(0.3)
    off_us, level = b.levels()[-1]
    assert level == 0.0, "the motor is off at the REPL"
    name = recording(b)
    records = decode_bytes(b.session_files()[name]).records
    assert_kept(before[name], b.session_files()[name])
    assert records[-1]["kind"] == "footer", "closed at the Ctrl-C"
    samples = [r["t_ms"] for r in records if r["kind"] == "sample"]
    assert samples and samples[-1] >= FAULT_US // 1000 - SESSION_US // 1000 - 1500, \
        "the open sample block (RAM only) is in the file"
    b.dev.on_data(b"\x04")  # soft reboot: main.py again
    assert wait_until(lambda: b.out.count(b"soft reboot") >= 1)
    boot_us = b.hw.now_us
    b.run_until(boot_us + 3_000_000)
    print("ctrl-c -> motor off", (off_us - sent_us) // 1000, "ms; reboot -> STOP",
          assert_plays(b.levels(), "stop", boot_us, boot_us + 3_000_000), "ms")
    assert decode_bytes(b.session_files()[name]).records == records, "kept as closed"
    b.assert_history_intact()
