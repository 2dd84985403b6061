"""DRV2605L driver against the register-level chip model (a datasheet transcription).

What is checked is what the chip drives the motor with (the model's drive, a signed fraction
of full scale), not which bytes the driver wrote."""

import itertools
from pathlib import Path

import pytest

from retrofw import settings
from retrofw.drivers import drv2605 as drv_mod
from retrofw.drivers.drv2605 import (
    DRV2605,
    STATUS_CAL_FAILED,
    STATUS_OVER_CURRENT,
    STATUS_OVER_TEMP,
)
from retrofw.haptics import PATTERN_CLEAR, PATTERN_NOTICE, PATTERN_STOP, PATTERN_WARNING, PATTERNS
from retrorun.devtools.models import drv2605 as chip
from retrorun.devtools.models.bus import I2CBus
from retrorun.devtools.models.drv2605 import EFFECT_US, DRV2605Model
from retrorun.devtools.models.pwm import Clock


def rig(actuator="erm", device_id=7, wired="auto", settle=True, **kw):
    """Clock, chip model, bus and driver; settle: run the haptics ticks (update() every 20 ms)
    until a calibration started by the set-up is over."""
    clock = Clock()
    model = DRV2605Model(clock, device_id=device_id, actuator=wired)
    bus = I2CBus({chip.I2C_ADDRESS: model})
    drv = DRV2605(bus, actuator=actuator, ticks_ms=clock.ticks_ms, **kw)
    if settle:
        ticks(clock, drv)
    return clock, model, bus, drv


def ticks(clock, drv, limit_ms=3000):
    """The haptics task: update() every 20 ms while it says the calibration still runs."""
    for _ in range(limit_ms // 20):
        if not drv.update():
            return
        clock.advance(20_000)
    raise AssertionError("calibration never ended")


def step_strengths():
    """The motor strength of the first "on" step of clear/notice/warning/stop at the default
    haptic.strength, as the app computes it (app.motor_strength)."""
    scale = settings.defaults()["haptic.strength"]
    # haptic.strength scales CLEAR/NOTICE/WARNING; STOP is never scaled (PatternPlayer.drive)
    return [PATTERNS[p][0][1] * (100 if p == PATTERN_STOP else scale) // 100
            for p in (PATTERN_CLEAR, PATTERN_NOTICE, PATTERN_WARNING, PATTERN_STOP)]


def test_setup_for_erm_and_lra():
    _, model, _, drv = rig("erm")
    assert not model.standby and not model.lra and model.library == 1
    assert model.open_loop and not model.unsigned  # ERM open loop, signed RTP (SLOS854 8.6)
    assert model.regs[chip.OD_CLAMP] == 140 and model.regs[chip.RATED_VOLTAGE] == 141
    _, model, _, drv = rig("lra", device_id=3)
    assert model.lra and model.library == 6 and drv.device_id == 3  # LIBRARY_SEL 6: LRA library
    assert not model.open_loop and not model.bidirectional and model.unsigned
    assert model.calibrated and model.calibrations == 1
    with pytest.raises(ValueError):
        rig("lra", library=1)


def test_wrong_or_absent_chip_raises_clear_oserror():
    with pytest.raises(OSError, match="DEVICE_ID 4"):
        rig(device_id=4)  # a DRV2604: no effect library
    with pytest.raises(OSError, match="no answer at I2C address 0x5a"):
        DRV2605(I2CBus({}))


@pytest.mark.parametrize("actuator", ["erm", "lra"])
def test_drive_is_monotonic_from_zero_to_full(actuator):
    clock, model, _, drv = rig(actuator)
    drives = []
    for strength in range(256):
        drv.set(strength)
        clock.advance(1000)
        drives.append(model.drive_at(clock.now_us))
    assert drives[0] == 0 and drives[255] == pytest.approx(1.0)
    assert all(b >= a for a, b in itertools.pairwise(drives))
    assert all(d > 0 for d in drives[1:])
    # within one RTP step (1/127 signed, 1/255 unsigned) of strength/255 everywhere
    assert max(abs(d - s / 255) for s, d in enumerate(drives)) <= 1 / 127 + 1e-9
    print(actuator, "drive at 0, 64, 128, 192, 255:",
          [round(drives[s], 3) for s in (0, 64, 128, 192, 255)])


@pytest.mark.parametrize("actuator", ["erm", "lra"])
def test_alert_steps_drive_forward_and_increase(actuator):
    clock, model, _, drv = rig(actuator)
    strengths = step_strengths()  # clear, notice, warning, stop
    drives = []
    for s in strengths:
        drv.set(s)
        clock.advance(20_000)
        drives.append(model.drive_at(clock.now_us))
    print(actuator, "strengths", strengths, "drive", [round(d, 3) for d in drives])
    assert all(d > 0.3 for d in drives)  # the old driver: ERM -0.31 (reverse) at the clear tick
    assert drives == sorted(drives) and len(set(drives)) == 4
    assert drives == pytest.approx([s / 255 for s in strengths], abs=1 / 127)


def test_set_is_real_time_playback_and_off_stops():
    clock, model, _, drv = rig()
    assert drv.set(180) is True
    assert model.mode == 5 and model.drive_at(clock.now_us) == pytest.approx(180 / 255, abs=0.01)
    clock.advance(50_000)
    drv.set(90)
    clock.advance(50_000)
    drv.off()
    assert model.mode == 0  # internal trigger (SLOS854 MODE[2:0])
    assert [(t, k) for t, k, _ in model.timeline] == [(0, "rtp"), (50_000, "rtp"), (100_000, "off")]
    assert model.drive_timeline == [(0, pytest.approx(90 / 127)), (50_000, pytest.approx(45 / 127)),
                                    (100_000, 0.0)]  # signed RTP 90 and 45 of 127
    with pytest.raises(ValueError):
        drv.set(300)


def test_play_loads_the_sequencer_and_go_self_clears():
    clock, model, _, drv = rig()
    assert drv.play((47, 47, 14))
    assert model.sequence() == [47, 47, 14] and drv.playing()
    clock.advance(3 * EFFECT_US + 1000)
    assert not drv.playing()
    assert [k for _, k, _ in model.timeline] == ["effect", "effect", "effect", "off"]
    with pytest.raises(ValueError):
        drv.play(tuple(range(1, 10)))
    with pytest.raises(ValueError):
        drv.play((124,))


def test_set_interrupts_a_playing_sequence():
    clock, model, _, drv = rig()
    drv.play((1, 1, 1, 1))
    clock.advance(150_000)
    drv.set(255)
    clock.advance(1_000_000)
    kinds = [k for _, k, _ in model.timeline]
    assert kinds == ["effect", "effect", "off", "rtp"]
    assert model.drive_at(clock.now_us) == 1.0


def test_lra_calibration_waits_for_go_and_keeps_the_result():
    clock, model, _, drv = rig("lra")
    # 8.5.6: GO clears after the AUTO_CAL_TIME window (2: up to 700 ms on the model's clock)
    assert clock.now_us >= 700_000 and model.calibrations == 1 and not model.diag_result
    assert drv.calibrated_now and not drv.cal_failed and drv.check() == 0
    comp, bemf, gain = chip.CAL_RESULT_LRA
    assert drv.calibration == bytes((comp, bemf, gain))
    assert [k for _, k, _ in model.timeline][:2] == ["calibration", "off"]
    assert model.mode == 0 and model.notes == []  # no closed-loop drive without calibration


def test_calibration_runs_once_and_is_reused_after_a_reboot(tmp_path):
    path = str(tmp_path / "drv2605.cal")
    clock = Clock()
    model = DRV2605Model(clock, actuator="lra")
    bus = I2CBus({chip.I2C_ADDRESS: model})

    def boot():  # as parts._make_drv2605 does, with the file in tmp_path
        d = DRV2605(bus, actuator="lra", calibration=drv_mod.load_calibration(path),
                    cal_path=path, ticks_ms=clock.ticks_ms)
        ticks(clock, d)
        return d

    first = boot()
    assert first.calibrated_now and model.calibrations == 1
    assert drv_mod.load_calibration(path) == first.calibration  # stored when it ended
    model.power_cycle()  # the device was switched off: the chip lost everything
    second = boot()
    assert not second.calibrated_now and model.calibrations == 1  # written back, not re-run
    comp, bemf, gain = chip.CAL_RESULT_LRA
    assert (model.regs[chip.A_CAL_COMP], model.regs[chip.A_CAL_BEMF]) == (comp, bemf)
    assert model.regs[chip.FEEDBACK_CONTROL] & 0x03 == gain and model.calibrated
    second.set(200)
    assert model.drive_at(clock.now_us) == pytest.approx(200 / 255) and model.notes == []


@pytest.mark.parametrize("damage", [b"", b"\xd5\x4e", b"garbage!", "checksum", "other motor"])
def test_a_damaged_calibration_file_means_calibrate_again(tmp_path, damage):
    path = str(tmp_path / "drv2605.cal")
    assert drv_mod.save_calibration(b"\x09\x92\x02", path)
    data = bytearray(Path(path).read_bytes())
    if damage == "checksum":
        data[4] ^= 0x10
    elif damage == "other motor":
        assert drv_mod.load_calibration(path, rated_voltage=90) is None
        return
    else:
        data = damage
    Path(path).write_bytes(bytes(data))
    assert drv_mod.load_calibration(path) is None
    _, model, _, drv = rig("lra", calibration=drv_mod.load_calibration(path))
    assert drv.calibrated_now and model.calibrations == 1


def test_missing_or_unwritable_calibration_file_never_raises(tmp_path):
    assert drv_mod.load_calibration(str(tmp_path / "none.cal")) is None
    assert drv_mod.save_calibration(b"\x01\x02\x03", str(tmp_path / "no" / "dir.cal")) is False


@pytest.mark.parametrize("wired", [None, "erm"])
def test_calibration_failure_is_a_fault_not_a_crash(wired):
    _, model, _, drv = rig("lra", wired=wired)  # no motor / an ERM on an LRA set-up
    assert model.diag_result and drv.cal_failed and not drv.calibrated_now
    assert drv.calibration is None
    assert drv.check() == STATUS_CAL_FAILED
    assert drv.set(200) is True and drv.ok  # still drives, on the chip's default calibration


def test_fault_unplugged_returns_false_then_recovers_after_power_cycle():
    clock, model, bus, drv = rig("lra")
    bus.unplugged.add(chip.I2C_ADDRESS)
    assert drv.set(200) is False and not drv.ok
    assert drv.off() is False and drv.play((1,)) is False and drv.check() == -1
    model.power_cycle()  # replugged: the chip is back in standby with its defaults
    bus.unplugged.clear()
    assert drv.set(200) is True and drv.ok
    assert not model.standby and model.lra and model.library == 6
    assert model.calibrations == 1 and model.calibrated  # the kept result, written back
    assert model.drive_at(clock.now_us) == pytest.approx(200 / 255)


@pytest.mark.parametrize("fault,bit", [("over_temp", STATUS_OVER_TEMP),
                                       ("over_current", STATUS_OVER_CURRENT)])
def test_fault_status_bits_are_reported(fault, bit):
    clock, model, _, drv = rig()
    assert drv.check() == 0
    model.fault = fault
    drv.set(255)
    assert drv.check() == bit
    assert model.drive_at(clock.now_us) == 0  # the chip cut its output


def test_set_allocates_nothing_in_micropython(mpy):
    got = mpy.eval("""
from retrofw.drivers.drv2605 import DRV2605
class Bus:
    def __init__(self):
        self.regs = bytearray(0x23)
        self.regs[0] = 0xE0
    def readfrom_mem_into(self, addr, reg, buf):
        for i in range(len(buf)):
            buf[i] = self.regs[reg + i]
    def writeto_mem(self, addr, reg, buf):
        for i in range(len(buf)):
            self.regs[reg + i] = buf[i]
bus = Bus()
d = DRV2605(bus)
no_alloc(d.set, 120)
no_alloc(d.set, 30)
erm = [bus.regs[1], bus.regs[2], mem_delta(d.set, 0), bus.regs[1]]
bus = Bus()
d = DRV2605(bus, actuator="lra", calibration=(9, 0x92, 2))
no_alloc(d.set, 120)
no_alloc(d.set, 30)
result = erm + [bus.regs[1], bus.regs[2], mem_delta(d.set, 0), bus.regs[0x18]]
""")
    assert got == [5, 15, 0, 0, 5, 30, 0, 9]


def test_calibration_does_not_block_and_a_strength_asked_meanwhile_follows_it():
    clock, model, _, drv = rig("lra", settle=False)
    assert clock.now_us == 0 and drv.calibrating and model.calibrating  # set-up returned at once
    assert drv.off() is True and drv.set(170) is True  # the haptics task's first ticks
    assert model.calibrating and model.mode == 7  # neither cut the calibration short
    ticks(clock, drv)
    assert not drv.calibrating and drv.calibrated_now and model.calibrations == 1
    assert 500_000 <= clock.now_us <= 720_000  # AUTO_CAL_TIME 2 (model: its 700 ms maximum)
    assert model.mode == 5 and model.drive_at(clock.now_us) == pytest.approx(170 / 255)


def test_a_calibration_that_never_ends_gives_up():
    clock, model, _, drv = rig("lra", settle=False)
    model.cal_hangs = True  # GO stays set (a stuck chip)
    with pytest.raises(AssertionError):
        ticks(clock, drv, limit_ms=1900)
    assert drv.calibrating
    ticks(clock, drv)
    assert drv.cal_failed and not drv.calibrating and drv.check() & STATUS_CAL_FAILED
