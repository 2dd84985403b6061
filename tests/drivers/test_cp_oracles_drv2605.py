"""adafruit_circuitpython_drv2605 as an independent oracle for the DRV2605L model and driver.

Adafruit's driver, used as shipped, runs on the chip model through `BusioI2C` (a busio.I2C
look-alike on the same `I2CBus`). What it configures: out of standby, ERM open loop
(ERM_OPEN_LOOP set), library A; `use_LRM()` sets only N_ERM_LRA, so an LRA runs closed loop (the
reset value of LRA_OPEN_LOOP); it leaves BIDIR_INPUT (1) and DATA_FORMAT_RTP (signed) at their
reset values, and `realtime_value` is a signed -127..127 (its documentation: 64 = 50 %, 127 =
full). So each driver reaches the datasheet's RTP transfer ("Data Formats for Waveform
Playback", SLOS854D) through a different configuration: Adafruit's bidirectional signed, the
project's unidirectional unsigned (LRA) or open-loop signed (ERM). The model must give the same
output drive for the same requested fraction of full scale; and each must read back the state
the other wrote on the same model instance.
"""

from __future__ import annotations

import adafruit_drv2605
import pytest
from adafruit_bus_device.i2c_device import I2CDevice

from retrofw import settings
from retrofw.drivers.drv2605 import DRV2605
from retrofw.haptics import PATTERN_CLEAR, PATTERN_NOTICE, PATTERN_STOP, PATTERN_WARNING, PATTERNS
from retrorun.devtools.models import drv2605 as chip
from retrorun.devtools.models.bus import I2CBus
from retrorun.devtools.models.busio_adapter import BusioI2C
from retrorun.devtools.models.drv2605 import DRV2605Model
from retrorun.devtools.models.pwm import Clock

STRENGTHS = (1, 32, 64, 100, 128, 160, 200, 230, 255)


def alert_strengths():
    scale = settings.defaults()["haptic.strength"]
    # haptic.strength scales CLEAR/NOTICE/WARNING; STOP is never scaled (PatternPlayer.drive)
    return [PATTERNS[p][0][1] * (100 if p == PATTERN_STOP else scale) // 100
            for p in (PATTERN_CLEAR, PATTERN_NOTICE, PATTERN_WARNING, PATTERN_STOP)]


def chip_on_bus(**kw):
    clock = Clock()
    model = DRV2605Model(clock, **kw)
    bus = I2CBus({chip.I2C_ADDRESS: model})
    return clock, model, bus


def project(actuator):
    clock, model, bus = chip_on_bus()
    drv = DRV2605(bus, actuator=actuator, ticks_ms=clock.ticks_ms)
    while drv.update():  # the haptics task's ticks during the LRA's calibration
        clock.advance(20_000)
    return clock, model, bus, drv


def adafruit(actuator):
    clock, model, bus = chip_on_bus()
    drv = adafruit_drv2605.DRV2605(BusioI2C(bus))
    if actuator == "lra":
        drv.use_LRM()
        drv.library = adafruit_drv2605.LIBRARY_LRA
    drv.realtime_value = 0
    drv.mode = adafruit_drv2605.MODE_REALTIME
    return clock, model, drv


def test_adafruit_configuration_is_the_reset_transfer():
    _, model, _ = adafruit("erm")
    assert not model.standby and not model.lra and model.open_loop and model.library == 1
    assert model.bidirectional and not model.unsigned  # left at reset (CONTROL2 0xF5, CONTROL3)
    _, model, _ = adafruit("lra")
    assert model.lra and not model.open_loop and model.bidirectional and not model.unsigned


# The datasheet figures' input points: (open loop, BIDIR_INPUT, DATA_FORMAT_RTP, raw, drive)
TABLE = [
    # open loop: mid-scale is zero, below it reverse drive
    (True, 1, 1, 0x00, -1.0), (True, 1, 1, 0xFF, 1.0),
    (True, 1, 0, 0x81, -1.0), (True, 1, 0, 0x00, 0.0), (True, 1, 0, 0x7F, 1.0),
    # closed loop, bidirectional: 0..50 % no output, 75 % half, 100 % full
    (False, 1, 1, 0x00, 0.0), (False, 1, 1, 0x7F, 0.0), (False, 1, 1, 0xBF, 0.5),
    (False, 1, 1, 0xFF, 1.0),
    (False, 1, 0, 0x81, 0.0), (False, 1, 0, 0x00, 0.0), (False, 1, 0, 0x3F, 0.5),
    (False, 1, 0, 0x7F, 1.0),
    # closed loop, unidirectional: 0 % none, 50 % half, 100 % full
    (False, 0, 1, 0x00, 0.0), (False, 0, 1, 0x7F, 0.5), (False, 0, 1, 0xFF, 1.0),
]


@pytest.mark.parametrize("lra", [False, True])
@pytest.mark.parametrize("open_loop,bidir,unsigned,raw,drive", TABLE)
def test_model_follows_the_datasheet_transfer(lra, open_loop, bidir, unsigned, raw, drive):
    clock, model, _ = chip_on_bus()
    model.write(chip.MODE, bytes([chip.MODE_RTP]))
    model.write(chip.FEEDBACK_CONTROL, bytes([0xB6 if lra else 0x36]))
    loop_bit = chip.LRA_OPEN_LOOP if lra else chip.ERM_OPEN_LOOP
    model.write(chip.CONTROL2, bytes([0xF5 if bidir else 0x75]))
    model.write(chip.CONTROL3, bytes([0x80 | (loop_bit if open_loop else 0)
                                      | (chip.DATA_FORMAT_RTP if unsigned else 0)]))
    model.write(chip.RTP_INPUT, bytes([raw]))
    assert model.drive_at(clock.now_us) == pytest.approx(drive, abs=1 / 127)


@pytest.mark.parametrize("actuator", ["erm", "lra"])
def test_adafruit_and_project_driver_give_the_same_drive(actuator):
    pc, pmodel, _, ours = project(actuator)
    ac, amodel, theirs = adafruit(actuator)
    rows = []
    for s in (*STRENGTHS, *alert_strengths()):
        ours.set(s)
        pc.advance(10_000)
        theirs.realtime_value = round(127 * s / 255)  # the same fraction, in its signed format
        ac.advance(10_000)
        mine, other = pmodel.drive_at(pc.now_us), amodel.drive_at(ac.now_us)
        rows.append((s, round(mine, 3), round(other, 3)))
        assert mine == pytest.approx(other, abs=1 / 127)
    print(actuator, "(strength, project drive, adafruit drive):", rows)
    # the model's quirk report: Adafruit runs the LRA closed loop without auto-calibration
    assert pmodel.notes == []
    assert amodel.notes == ([] if actuator == "erm"
                            else ["closed-loop LRA drive without auto-calibration"])


@pytest.mark.parametrize("actuator", ["erm", "lra"])
def test_each_reads_back_what_the_other_wrote(actuator):
    clock, model, bus, ours = project(actuator)
    ours.set(136)
    theirs = adafruit_drv2605.DRV2605.__new__(adafruit_drv2605.DRV2605)  # no init: no rewrite
    theirs._device = I2CDevice(BusioI2C(bus), chip.I2C_ADDRESS)
    assert theirs.mode == adafruit_drv2605.MODE_REALTIME
    assert theirs.realtime_value == ours.rtp_value(136)
    assert theirs.library == (6 if actuator == "lra" else 1)
    theirs.realtime_value = 255 if actuator == "lra" else 127  # full scale in our format
    assert model.drive_at(clock.now_us) == pytest.approx(1.0)


@pytest.mark.parametrize("actuator", ["erm", "lra"])
def test_the_old_configuration_disagrees_with_the_oracle(actuator):
    """What the driver did before issue 13 (unsigned RTP = strength, BIDIR_INPUT left at 1):
    the oracle's drive is forward at every alert step, the old one was not."""
    clock, model, _, _ = project(actuator)
    model.write(chip.CONTROL2, bytes([0xF5]))  # BIDIR_INPUT back to its reset value
    c3 = model.regs[chip.CONTROL3] | chip.DATA_FORMAT_RTP
    model.write(chip.CONTROL3, bytes([c3]))
    old = []
    for s in alert_strengths():
        model.write(chip.MODE, bytes([chip.MODE_RTP]))
        model.write(chip.RTP_INPUT, bytes([s]))
        clock.advance(10_000)
        old.append(round(model.drive_at(clock.now_us), 2))
    print(actuator, "old drive at clear/notice/warning/stop:", old)
    assert old[0] <= 0  # ERM: -0.31 (reverse), LRA: 0 (nothing) at the clear tick
    assert old[1] < 0.1  # notice: +0.07 / +0.07 instead of about 0.53
