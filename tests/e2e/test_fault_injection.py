"""Fault injection on the real app (issue 14, item 8): boot failures.

The deployed app runs on the virtual board (tests/fault_board.py) and each fault is made as
the hardware or the flash would make it (retrorun.devtools.vboard.faults). Every test reads
what the runner feels from the haptic output as `retrorun vboard --haptics FILE` writes it
(JSON lines, virtual seconds since the reset) and asserts that within 1 s of boot the device
either warns as usual (an obstacle behind the runner gives its pattern) or plays FAULT, and
that no session data is lost: sessions already on flash decode with every record.
The faults at run time are in test_fault_injection_run.py.

| kind | test | what the runner feels |
|---|---|---|
| config.json not UTF-8 | test_a_bad_config_falls_back_and_warns[not-utf8] | STOP on defaults |
| config.json not JSON | test_a_bad_config_falls_back_and_warns[bad-json] | STOP at 1.4 m: the last good copy's 1.5 m stop |
| config.json out of range | test_a_bad_config_falls_back_and_warns[out-of-range] | WARNING at full rhythm (strength 0 refused) |
| (the reason, in status) | test_status_says_why_the_config_was_refused | the refused rule in `retrorun status` |
| a folder /sessions/000099.rrl | test_damaged_sessions_are_quarantined_and_the_app_warns[folder] | STOP |
| a foreign file in /sessions | test_damaged_sessions_are_quarantined_and_the_app_warns[foreign] | STOP |
| flash full: no room for a footer | test_a_full_flash_at_boot_keeps_every_record_and_the_app_warns[*] | STOP |
| no distance sensor at boot | test_no_distance_sensor_at_boot_plays_fault[*] | FAULT |
| no haptic driver at boot | test_no_haptic_driver_at_boot_blinks_fault_on_the_led | FAULT on the LED |
| the app cannot load | test_an_app_that_cannot_load_plays_fault_on_the_motor | FAULT |
"""

from __future__ import annotations

import json

import pytest
from fault_board import (
    DRV2605_ERM,
    VL53L1X,
    FaultBoard,
    Near,
    Script,
    assert_kept,
    assert_plays,
    first_pattern,
)

from retrorun.sessions.logs import decode_bytes

pytestmark = pytest.mark.slow


def boot_pattern(b: FaultBoard, name: str, until_us: int, after_us: int = 0) -> int:
    """`name` starts within 1 s of boot in the --haptics file; the delay in ms."""
    return assert_plays(b.haptics_file(), name, after_us, until_us)


def session_events(data: bytes, event: str) -> list[dict]:
    return [r for r in decode_bytes(data).records
            if r["kind"] == "event" and r["event"] == event]


# -- config.json -----------------------------------------------------------------------------
def _not_utf8(fs):
    (fs / "config.json").write_bytes(b'{"alert.stop_m": 1.5, "ble.name": "\xff\xfe"}')


def _bad_json_with_a_good_copy(fs):
    (fs / "config.bak").write_text(json.dumps({"alert.stop_m": 1.5}))  # settings._text
    (fs / "config.json").write_text('{"alert.stop_m": 1.5, "alert.')  # cut mid-write


def _strength_zero(fs):
    (fs / "config.json").write_text(json.dumps({"haptic.strength": 0}))


CONFIG_FAULTS = [
    # (id, prepare, obstacle mm, fallback (EV_CONFIG a), pattern the runner feels)
    ("not-utf8", _not_utf8, 500, 2, "stop"),
    ("bad-json", _bad_json_with_a_good_copy, 1400, 1, "stop"),  # defaults (1.2 m) would warn
    ("out-of-range", _strength_zero, 2000, 2, "warning"),
]


@pytest.mark.parametrize(("prepare", "mm", "fallback", "pattern"),
                         [c[1:] for c in CONFIG_FAULTS], ids=[c[0] for c in CONFIG_FAULTS])
def test_a_bad_config_falls_back_and_warns(make_board, capsys, prepare, mm, fallback, pattern):
    from retrorun.cli.main import main

    b = make_board(prepare=prepare, world=Script((0, mm)), history=(30,), serve=True)
    b.press(1_000_000)  # a session: its log says which config it runs on
    b.press(2_500_000)
    b.run_until(3_500_000)
    delay = boot_pattern(b, pattern, 3_500_000)
    assert b.resets() == [], b.out[-800:]
    new = {k: v for k, v in b.session_files().items() if k not in b.history}
    assert len(new) == 1, new.keys()
    (config,) = session_events(next(iter(new.values())), "config")
    assert config["fallback"] == fallback
    b.assert_history_intact()
    capsys.readouterr()
    assert main(["status", "--port", b.port, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config_fallback"] == fallback
    assert main(["status", "--port", b.port]) == 0
    assert "FALLBACK" in capsys.readouterr().out
    with capsys.disabled():
        print("boot ->", pattern, delay, "ms")


def test_status_says_why_the_config_was_refused(make_board, capsys):
    from retrorun.cli.main import main

    b = make_board(prepare=_not_utf8, world=Near(), serve=True)
    b.run_until(1_500_000)
    capsys.readouterr()
    assert main(["status", "--port", b.port, "--json"]) == 0
    assert "not UTF-8" in json.loads(capsys.readouterr().out)["config_message"]


# -- /sessions -------------------------------------------------------------------------------
def _folder(fs):
    (fs / "sessions" / "000099.rrl").mkdir(parents=True)


def _foreign(fs):
    (fs / "sessions" / "000007.rrl").write_bytes(b"foreign\n" * 100)
    (fs / "sessions" / "notes.txt").write_text("a maker's notes: not a session\n")


@pytest.mark.parametrize(("prepare", "quarantined"), [(_folder, "000099.rrl"),
                                                      (_foreign, "000007.rrl")],
                         ids=["folder", "foreign"])
def test_damaged_sessions_are_quarantined_and_the_app_warns(make_board, prepare, quarantined):
    b = make_board(prepare=prepare, world=Near(), history=(30, 40))
    b.run_until(3_000_000)
    print("boot -> stop", boot_pattern(b, "stop", 3_000_000), "ms")
    assert b.resets() == [], b.out[-800:]
    assert [p.name for p in (b.fs / "sessions" / "quarantine").iterdir()] == [quarantined]
    b.assert_history_intact()
    if prepare is _foreign:
        assert (b.fs / "sessions" / "notes.txt").exists(), "a file not named as a session stays"


# -- a full flash ----------------------------------------------------------------------------
def _unfinished(reserve):
    """Sessions 2 and 3 as a power cut leaves them: 2 ends on a whole record (the footer never
    came), 3 in the middle of one (a torn tail); with `reserve`, the 8 KB reserve file an
    earlier boot made."""
    def prepare(fs):
        sessions = fs / "sessions"
        for name, cut in (("000002.rrl", 0), ("000003.rrl", 3)):
            data = (sessions / name).read_bytes()
            footer = next(r for r in decode_bytes(data).records if r["kind"] == "footer")
            (sessions / name).write_bytes(data[:footer["offset"] - cut])
        if reserve:
            (sessions / "reserve").write_bytes(bytes(8192))
    return prepare


@pytest.mark.parametrize("reserve", [True, False], ids=["reserve", "no-reserve"])
def test_a_full_flash_at_boot_keeps_every_record_and_the_app_warns(make_board, reserve):
    """Not a byte free at power-on: the footer recovery appends is refused (ENOSPC). The
    reserve gives room for it; without one the session stays as it was (sync takes it)."""
    b = make_board(history=(30, 60, 60), prepare=_unfinished(reserve), world=Near(),
                   free_bytes=0)
    before = {n: (b.fs / "sessions" / n).read_bytes() for n in ("000002.rrl", "000003.rrl")}
    b.history = {"000001.rrl": b.history["000001.rrl"]}
    b.run_until(3_000_000)
    print("boot -> stop", boot_pattern(b, "stop", 3_000_000), "ms")
    assert b.resets() == [], b.out[-800:]
    assert b.flash_space.refused, "the flash really was full"
    after = b.session_files()
    kept = {n: assert_kept(before[n], after[n]) for n in before}
    print("records kept", kept)
    last = decode_bytes(after["000002.rrl"]).records[-1]
    if reserve:
        assert last["kind"] == "footer" and last["recovered"], "the reserve made room for it"
    else:
        assert after["000002.rrl"] == before["000002.rrl"], "left as it was"
    b.assert_history_intact()


# -- parts missing at boot -------------------------------------------------------------------
def _hcsr04_unplugged(b):
    b.hw.ultrasonic.fault = "unplugged"


@pytest.mark.parametrize(("parts", "unplug", "inject"), [
    ({"distance": VL53L1X}, (0x29,), None),
    (None, (), _hcsr04_unplugged),
], ids=["vl53l1x-nack", "hcsr04-no-echo"])
def test_no_distance_sensor_at_boot_plays_fault(make_board, parts, unplug, inject):
    b = make_board(parts=parts, unplug=unplug, history=(30,))
    if inject is not None:
        inject(b)
    b.run_until(6_000_000)
    print("boot -> fault", boot_pattern(b, "fault", 6_000_000), "ms")
    assert b.resets() == [], b.out[-800:]
    b.assert_history_intact()


def test_no_haptic_driver_at_boot_blinks_fault_on_the_led(make_board):
    b = make_board(parts={"haptic": DRV2605_ERM}, unplug=(0x5A,), history=(30,))
    b.run_until(6_000_000)
    got, t0, ms = first_pattern(b.led_levels(), 0, 6_000_000)
    assert got == "fault" and t0 <= 1_000_000, (got, t0, ms)
    print("boot -> fault on the LED", t0 // 1000, "ms")
    assert b.resets() == [], b.out[-800:]
    b.assert_history_intact()


def test_an_app_that_cannot_load_plays_fault_on_the_motor(make_board):
    def prepare(fs):
        for old in (fs / "lib" / "retrofw").glob("steps.*"):
            old.unlink()
        (fs / "lib" / "retrofw" / "steps.py").write_text("raise RuntimeError('damaged')\n")

    b = make_board(prepare=prepare, history=(30,))
    b.run_until(6_000_000)
    print("boot -> fault", boot_pattern(b, "fault", 6_000_000), "ms")
    assert b.resets() == [], b.out[-800:]
    b.assert_history_intact()
