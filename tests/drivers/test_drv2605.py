"""DRV2605L driver against the register-level chip model."""

import pytest

from retrofw.drivers.drv2605 import DRV2605, STATUS_OVER_CURRENT, STATUS_OVER_TEMP
from retrorun.devtools.models import drv2605 as chip
from retrorun.devtools.models.bus import I2CBus
from retrorun.devtools.models.drv2605 import EFFECT_US, DRV2605Model
from retrorun.devtools.models.pwm import Clock


def rig(actuator="erm", device_id=7, **kw):
    clock = Clock()
    model = DRV2605Model(clock, device_id=device_id)
    bus = I2CBus({chip.I2C_ADDRESS: model})
    return clock, model, bus, DRV2605(bus, actuator=actuator, **kw)


def test_setup_for_erm_and_lra():
    _, model, _, drv = rig("erm")
    assert not model.standby and not model.lra and model.library == 1
    assert model.regs[0x1D] & 0x08  # CONTROL3 DATA_FORMAT_RTP = 1: unsigned RTP (SLOS854)
    _, model, _, drv = rig("lra", device_id=3)
    assert model.lra and model.library == 6 and drv.device_id == 3  # LIBRARY_SEL 6: LRA library
    with pytest.raises(ValueError):
        rig("lra", library=1)


def test_wrong_or_absent_chip_raises_clear_oserror():
    with pytest.raises(OSError, match="DEVICE_ID 4"):
        rig(device_id=4)  # a DRV2604: no effect library
    with pytest.raises(OSError, match="no answer at I2C address 0x5a"):
        DRV2605(I2CBus({}))


def test_set_is_real_time_playback_and_off_stops():
    clock, model, _, drv = rig()
    assert drv.set(180) is True
    assert model.mode == 5 and model.level_at(clock.now_us) == 180
    clock.advance(50_000)
    drv.set(90)
    clock.advance(50_000)
    drv.off()
    assert model.mode == 0  # internal trigger (SLOS854 MODE[2:0])
    assert [(t, k, v) for t, k, v in model.timeline] == [
        (0, "rtp", 180), (50_000, "rtp", 90), (100_000, "off", 0)]
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
    assert model.level_at(clock.now_us) == 255


def test_fault_unplugged_returns_false_then_recovers_after_power_cycle():
    clock, model, bus, drv = rig("lra")
    bus.unplugged.add(chip.I2C_ADDRESS)
    assert drv.set(200) is False and not drv.ok
    assert drv.off() is False and drv.play((1,)) is False and drv.check() == -1
    model.power_cycle()  # replugged: the chip is back in standby with its defaults
    bus.unplugged.clear()
    assert drv.set(200) is True and drv.ok
    assert not model.standby and model.lra and model.library == 6
    assert model.level_at(clock.now_us) == 200


@pytest.mark.parametrize("fault,bit", [("over_temp", STATUS_OVER_TEMP),
                                       ("over_current", STATUS_OVER_CURRENT)])
def test_fault_status_bits_are_reported(fault, bit):
    clock, model, _, drv = rig()
    assert drv.check() == 0
    model.fault = fault
    drv.set(255)
    assert drv.check() == bit
    assert model.level_at(clock.now_us) == 0  # the chip cut its output


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
result = [bus.regs[1], bus.regs[2], mem_delta(d.set, 0), bus.regs[1]]
""")
    assert got == [5, 30, 0, 0]
