"""VL53L1X driver against the register-level chip model."""

import pytest
from driver_rigs import MP_CLOCK, run

from retrofw import wire
from retrofw.drivers.vl53l1x import VL53L1X
from retrorun.devtools.models import vl53l1x as chip
from retrorun.devtools.models.bus import I2CBus
from retrorun.devtools.models.pwm import Clock
from retrorun.devtools.models.vl53l1x import VL53L1XModel


def rig(target=1500, **kw):
    clock = Clock()
    model = VL53L1XModel(clock, target=target, noise=kw.pop("noise", True))
    bus = I2CBus({chip.I2C_ADDRESS: model})
    sensor = VL53L1X(bus, ticks_ms=clock.ticks_ms, sleep_ms=clock.sleep_ms, **kw)
    return clock, model, bus, sensor


def test_init_follows_the_uld_sequence():
    _clock, model, _bus, _sensor = rig(timing_budget_ms=100)
    writes = dict(model.writes)
    # ULD VL53L1X_SensorInit: the default configuration, registers 0x2D..0x87 (91 bytes) ...
    config = writes[0x002D]
    assert len(config) == 0x87 - 0x2D + 1
    # ... with interrupt active high (0x30 = 0x01), a new-sample interrupt (0x46 = 0x20), the
    # full 16x16 SPAD ROI around SPAD 199 (0x7F = 0xC7, 0x80 = 0xFF) and, unlike the ULD's
    # table, 0x87 (SYSTEM__MODE_START) = 0 so that loading it does not start ranging
    assert (config[0x30 - 0x2D], config[0x46 - 0x2D]) == (0x01, 0x20)
    assert (config[0x7F - 0x2D], config[0x80 - 0x2D], config[-1]) == (0xC7, 0xFF, 0x00)
    # then VHV_CONFIG__TIMEOUT_MACROP_LOOP_BOUND (0x0008) = 0x09 and 0x000B = 0 (ULD)
    assert writes[0x0008] == b"\x09" and writes[0x000B] == b"\x00"
    assert model.long_mode() and model.budget_ms() == 100
    assert abs(model.period_ms() - 100) < 1
    assert model.starts == 2  # the VHV calibration ranging, then continuous ranging
    assert model.regs[chip.SYSTEM__MODE_START] == 0x40  # continuous ranging (ULD StartRanging)


def test_reads_distances_in_long_mode():
    clock, _model, _bus, sensor = rig(target=3200)
    got = run(clock, sensor, 2)
    assert all(abs(g - 3200) <= 40 for g in got), got
    assert sensor.status == 0 and sensor.fresh


def test_results_come_at_the_inter_measurement_period():
    clock, model, _bus, sensor = rig(target=1000, timing_budget_ms=33, inter_measurement_ms=100)
    assert sensor.period_ms == 100
    run(clock, sensor, 2, step_ms=10)
    reads = model.results_read
    run(clock, sensor, 1, step_ms=10)
    assert model.results_read - reads == 10


def test_nothing_in_range_and_below_minimum():
    clock, model, _bus, sensor = rig(target=None)
    assert set(run(clock, sensor, 1)) == {wire.NO_READING}
    assert sensor.status == 2  # signal fail
    model.target = 25
    got = run(clock, sensor, 0.5)[-1]
    assert 0 <= got < 40 and sensor.status == 3  # min range clipped: still a distance


def test_wrong_chip_and_absent_chip_raise_clear_oserrors():
    clock = Clock()
    model = VL53L1XModel(clock)
    model.regs[0x010F] = 0xEE
    with pytest.raises(OSError, match="model id 0xeecc"):
        VL53L1X(I2CBus({0x29: model}), ticks_ms=clock.ticks_ms, sleep_ms=clock.sleep_ms)
    with pytest.raises(OSError, match="no answer at I2C address 0x29"):
        VL53L1X(I2CBus({}), ticks_ms=clock.ticks_ms, sleep_ms=clock.sleep_ms)
    model = VL53L1XModel(clock)
    model.fault = "no_boot"
    with pytest.raises(OSError, match="did not boot"):
        VL53L1X(I2CBus({0x29: model}), ticks_ms=clock.ticks_ms, sleep_ms=clock.sleep_ms)


def test_fault_unplugged_is_no_ack_and_recovers():
    clock, _model, bus, sensor = rig(target=1200)
    run(clock, sensor, 0.3)
    bus.unplugged.add(chip.I2C_ADDRESS)
    assert run(clock, sensor, 0.2) == [wire.SENSOR_NO_ACK] * 4
    bus.unplugged.clear()
    assert abs(run(clock, sensor, 0.1)[-1] - 1200) <= 30


def test_sunlight_reduces_the_usable_range_to_the_datasheet_figure():
    """Long mode, white target: 3.6 m dark, 0.73 m in strong ambient light (VL53L1X datasheet,
    ranging table). Beyond that the chip answers "no target" and `usable_mm` says why."""
    clock, model, _bus, sensor = rig(target=2500)
    run(clock, sensor, 0.3)
    assert sensor.usable_mm == 4000
    model.fault = "sunlight"
    assert set(run(clock, sensor, 0.5)) == {wire.NO_READING}
    assert sensor.ambient_kcps >= 1000 and sensor.usable_mm == 730
    model.target = 500  # inside the 0.73 m strong-light range: still measured
    assert abs(run(clock, sensor, 0.2)[-1] - 500) <= 20


def test_fault_never_ready_is_timeout_within_a_second():
    clock, model, _bus, sensor = rig(target=1200)
    run(clock, sensor, 0.3)
    model.fault = "never_ready"
    got = run(clock, sensor, 1, step_ms=10)
    first = got.index(wire.SENSOR_TIMEOUT)
    assert (first + 1) * 10 <= sensor.timeout_ms + 60 <= 1000
    assert set(got[first:]) == {wire.SENSOR_TIMEOUT}


def test_fault_frozen_results_but_not_a_static_wall():
    clock, model, _bus, sensor = rig(target=2000)
    assert wire.SENSOR_FROZEN not in run(clock, sensor, 10)
    model.fault = "frozen"
    got = run(clock, sensor, 1.5)
    assert got[-1] == wire.SENSOR_FROZEN
    assert got.index(wire.SENSOR_FROZEN) * sensor.period_ms <= 1100


def test_fault_frozen_with_nothing_in_range_is_seen_by_the_stream_count():
    """Nothing in range: no distance to compare, but a working chip counts every ranging; the
    same stream count behind three data-readys in a row is a frozen chip."""
    clock, model, _bus, sensor = rig(target=None)
    assert set(run(clock, sensor, 10)) == {wire.NO_READING}  # a working chip, dark, empty
    model.fault = "frozen"
    got = run(clock, sensor, 1)
    assert got[-1] == wire.SENSOR_FROZEN
    assert got.index(wire.SENSOR_FROZEN) * sensor.period_ms <= 3 * sensor.period_ms + 10


def test_fault_hardware_is_stuck():
    clock, model, _bus, sensor = rig(target=2000)
    model.fault = "hw_fail"
    assert run(clock, sensor, 0.2)[-1] == wire.SENSOR_STUCK


def test_measure_allocates_nothing_in_micropython(mpy):
    got = mpy.eval(MP_CLOCK + """
from retrofw.drivers.vl53l1x import VL53L1X
from retrofw import wire
class Bus:
    def __init__(self):
        self.regs = bytearray(0x120)
        self.regs[0x10F] = 0xEA
        self.regs[0x110] = 0xCC
        self.regs[0xE5] = 1
        self.regs[0x31] = 1
        self.regs[0xDE] = 1
        self.n = 0
    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        regs = self.regs
        regs[0x31] = 1  # always data ready (polarity active high)
        if reg == 0x89:
            self.n += 1
            regs[0x89] = 9
            regs[0x96] = 0x05
            regs[0x97] = self.n & 0xFF
            regs[0x98] = 0x01
            regs[0x99] = (self.n * 7) & 0xFF
        for i in range(len(buf)):
            buf[i] = regs[reg + i]
    def writeto_mem(self, addr, reg, buf, addrsize=8):
        for i in range(len(buf)):
            self.regs[reg + i] = buf[i]
s = VL53L1X(Bus(), ticks_ms=ticks, sleep_ms=sleep)
def m(_):
    t[0] += 50
    return s.measure()
no_alloc(m, 0)
result = [m(0), mem_delta(m, 0)]
""")
    assert got[0] == 0x0502 and got[1] == 0  # the second result read; no bytes allocated


def test_region_of_interest_narrows_the_cone_and_the_reach():
    clock, model, _bus, sensor = rig(target=3500)
    assert model.roi() == (16, 16) and model.fov_deg() == 27.0
    assert abs(run(clock, sensor, 0.3)[-1] - 3500) <= 40
    clock, model, _bus, sensor = rig(target=3500, roi=6)
    assert model.roi() == (6, 6) and model.regs[chip.ROI_CONFIG__USER_ROI_CENTRE_SPAD] == 199
    assert 15.0 < model.fov_deg() < 20.0
    assert run(clock, sensor, 0.3)[-1] == wire.NO_READING  # 36 SPADs do not reach 3.5 m
    model.target = 1200
    assert abs(run(clock, sensor, 0.3)[-1] - 1200) <= 30
    with pytest.raises(ValueError):
        rig(roi=3)


def test_fault_power_loss_is_no_ack_then_the_chip_is_set_up_again():
    clock, model, bus, sensor = rig(target=1500)
    run(clock, sensor, 0.3)
    bus.unplugged.add(chip.I2C_ADDRESS)  # loose connector: the chip loses power
    assert run(clock, sensor, 0.2) == [wire.SENSOR_NO_ACK] * 4
    model.power_cycle()
    bus.unplugged.clear()
    got = run(clock, sensor, 0.5)
    assert sensor.restarts == 1 and model.long_mode() and model.budget_ms() == 50
    assert got[0] == wire.SENSOR_NO_ACK  # until the first new result
    assert abs(got[-1] - 1500) <= 30


def test_fault_chip_reset_while_connected_is_timeout_then_recovers():
    clock, model, _bus, sensor = rig(target=1500)
    run(clock, sensor, 0.3)
    model.power_cycle()  # a brown-out: the chip stops ranging, the bus still answers
    got = run(clock, sensor, 1.0)
    assert wire.SENSOR_TIMEOUT in got and sensor.restarts == 1
    assert abs(got[-1] - 1500) <= 30
