"""The CircuitPython drivers as independent oracles for the chip models and the project's drivers.

Adafruit's drivers (adafruit_vl53l1x, adafruit_lsm6ds, adafruit_mpu6050), used as shipped, run
on the same model instance as the project's driver, through `BusioI2C` (a busio.I2C look-alike
on the same `I2CBus`). Both read the same chip state: a distance for the VL53L1X, an
acceleration vector for the IMUs (the project reads the FIFO, Adafruit the output registers).
They must agree with each other and with the state the model was given; and the configuration
one writes must be what the other, and the model, read back. A misread datasheet in the model or
the driver then shows as a disagreement with code written and tested on real chips by others.

Their `time.sleep` calls are pointed at the model's virtual time (a sleep lets the chip work).
"""

from __future__ import annotations

import errno
import math
from array import array
from types import SimpleNamespace

import adafruit_lsm6ds
import adafruit_mpu6050
import adafruit_vl53l1x
import pytest
from adafruit_lsm6ds import AccelRange
from adafruit_lsm6ds.lsm6ds3trc import LSM6DS3TRC
from adafruit_lsm6ds.lsm6ds33 import LSM6DS33
from adafruit_lsm6ds.lsm6dsox import LSM6DSOX

from retrofw import wire
from retrofw.drivers.lsm6ds import LSM6DS
from retrofw.drivers.mpu6050 import MPU6050
from retrofw.drivers.vl53l1x import VL53L1X
from retrorun.devtools.models.bus import I2CBus
from retrorun.devtools.models.busio_adapter import BusioI2C
from retrorun.devtools.models.lsm6ds import LSM6DSModel
from retrorun.devtools.models.mpu6050 import MPU6050Model
from retrorun.devtools.models.pwm import Clock
from retrorun.devtools.models.vl53l1x import VL53L1XModel

G = adafruit_mpu6050.STANDARD_GRAVITY  # both Adafruit drivers answer in m/s^2

# Known accelerations in g: flat, upside down, on each side, tilted 45 degrees, a landing impact
ORIENTATIONS = [
    (0.0, 0.0, 1.0),
    (0.0, 0.0, -1.0),
    (1.0, 0.0, 0.0),
    (0.0, -1.0, 0.0),
    (0.5, -0.5, math.sqrt(0.5)),
    (0.3, -0.4, 3.1),
]
ORIENT_IDS = ["flat", "upside-down", "x-down", "y-up", "tilted", "impact"]


def expected_raw(g: float, lsb_per_g: int) -> int:
    """What a 16-bit output register holds for `g` at a range: rounded, clipped at full scale."""
    return max(-32768, min(32767, round(g * lsb_per_g)))


# -- the adapter -------------------------------------------------------------------------------
class Regs:
    """A plain register file: enough to see what the adapter asks of a model."""

    def __init__(self):
        self.regs = bytearray(0x200)

    def read(self, register, count):
        return bytes(self.regs[register : register + count])

    def write(self, register, data):
        self.regs[register : register + len(data)] = data


def test_adapter_turns_transactions_into_register_accesses():
    dev8, dev16 = Regs(), Regs()
    i2c = BusioI2C(I2CBus({0x6A: dev8, 0x29: dev16}), index_bytes={0x29: 2})
    with pytest.raises(RuntimeError, match="lock"):
        i2c.writeto(0x6A, b"\x10\x55")
    assert i2c.try_lock() and not i2c.try_lock()
    assert i2c.scan() == [0x29, 0x6A]
    i2c.writeto(0x6A, b"\xff\x10\x55\x66", start=1)  # index 0x10, then data
    i2c.writeto(0x29, b"\x01\x0f\xea\xcc")  # 16-bit index 0x010F
    assert dev8.regs[0x10:0x12] == b"\x55\x66" and dev16.regs[0x10F:0x111] == b"\xea\xcc"
    buf = bytearray(4)
    i2c.writeto(0x29, b"\x01\x0f")  # the index alone, a stop, then a read (VL53L1X figure 14)
    i2c.readfrom_into(0x29, buf, start=1, end=3)
    assert buf == b"\x00\xea\xcc\x00"
    i2c.writeto_then_readfrom(0x6A, b"\x10", buf, in_end=2)  # repeated start
    assert buf[:2] == b"\x55\x66"
    i2c.writeto(0x6A, b"")  # a probe: ACK only
    i2c.unlock()


def test_adapter_absent_or_unplugged_device_is_a_nack_oserror():
    bus = I2CBus({0x68: Regs()})
    i2c = BusioI2C(bus)
    i2c.try_lock()
    with pytest.raises(OSError) as err:
        i2c.writeto(0x69, b"")
    assert err.value.errno == errno.ENODEV
    bus.unplugged.add(0x68)
    with pytest.raises(OSError):
        i2c.readfrom_into(0x68, bytearray(1))
    i2c.unlock()
    with pytest.raises(ValueError, match="No I2C device"):  # as adafruit_bus_device reports it
        adafruit_mpu6050.MPU6050(i2c)


# -- VL53L1X -----------------------------------------------------------------------------------
def vl53_rig(monkeypatch, target, noise=True, **kw):
    """Model, Adafruit's driver (brought up first, as it sets the chip up itself), then ours."""
    clock = Clock()
    model = VL53L1XModel(clock, target=target, noise=noise)
    bus = I2CBus({0x29: model})
    monkeypatch.setattr(
        adafruit_vl53l1x, "time", SimpleNamespace(sleep=lambda s: clock.advance(round(s * 1e6)))
    )
    clock.advance(2000)  # power-up: past the 1.2 ms firmware boot
    theirs = adafruit_vl53l1x.VL53L1X(BusioI2C(bus, index_bytes={0x29: 2}))
    ours = VL53L1X(bus, ticks_ms=clock.ticks_ms, sleep_ms=clock.sleep_ms, **kw)
    return clock, model, theirs, ours


def test_vl53l1x_model_identifies_as_adafruit_expects():
    """Adafruit's driver refuses a chip whose 0x010F..0x0111 are not 0xEA, 0xCC, 0x10."""
    clock = Clock()
    model = VL53L1XModel(clock)
    i2c = BusioI2C(I2CBus({0x29: model}), index_bytes={0x29: 2})
    theirs = adafruit_vl53l1x.VL53L1X.__new__(adafruit_vl53l1x.VL53L1X)
    theirs.i2c_device = adafruit_vl53l1x.i2c_device.I2CDevice(i2c, 0x29)
    assert theirs.model_info == (0xEA, 0xCC, 0x10)


@pytest.mark.parametrize("target", [120, 600, 1500, 3200])
def test_vl53l1x_both_drivers_read_the_same_distance(monkeypatch, target):
    clock, _model, theirs, ours = vl53_rig(monkeypatch, target)
    sigma = 1.5 + target / 500  # the model's distance noise
    for _ in range(20):
        clock.advance(ours.period_ms * 1000)
        assert theirs.data_ready  # the same result, seen by both
        cm = theirs.distance
        mm = ours.measure()
        assert ours.fresh and ours.status == 0
        assert mm == round(cm * 10), (mm, cm)  # 1 mm resolution on both sides
        assert abs(mm - target) <= 5 * sigma + 1
        assert not theirs.data_ready  # our driver cleared the interrupt


def test_vl53l1x_no_target_and_below_minimum(monkeypatch):
    clock, model, theirs, ours = vl53_rig(monkeypatch, None)
    clock.advance(ours.period_ms * 1000)
    assert theirs.distance is None and ours.measure() == wire.NO_READING
    model.target = 25  # closer than 40 mm: raw status 8, "min range clipped"
    clock.advance(ours.period_ms * 1000)
    # Adafruit's driver trusts only raw status 9; ours reports the clipped distance (something
    # is that close), a documented policy, not a disagreement about the chip
    assert theirs.distance is None and 0 <= ours.measure() < 40 and ours.status == 3


@pytest.mark.parametrize("budget", [20, 33, 50, 100, 200, 500])
def test_vl53l1x_our_configuration_reads_back_in_adafruits_terms(monkeypatch, budget):
    _clock, model, theirs, _ours = vl53_rig(monkeypatch, 1000, timing_budget_ms=budget, roi=8)
    assert theirs.distance_mode == 2  # long
    timeout_a = theirs._read_register(0x005E, 2)
    timeout_b = theirs._read_register(0x0061, 2)
    assert (bytes(timeout_a), bytes(timeout_b)) == adafruit_vl53l1x.TB_LONG_DIST[budget]
    assert model.budget_ms() == budget
    assert theirs.roi_xy == (8, 8) and theirs.roi_center == 199


def test_vl53l1x_adafruits_configuration_is_what_the_model_runs(monkeypatch):
    clock, model, theirs, _ours = vl53_rig(monkeypatch, 1000)
    theirs.timing_budget = 100
    assert model.budget_ms() == 100 and model.long_mode()
    theirs.roi_xy = (4, 4)
    assert model.roi() == (4, 4) and model.fov_deg() == 15.0
    theirs.distance_mode = 1  # short: rewrites the timing registers for the same budget
    assert not model.long_mode() and model.budget_ms() == 100
    theirs.timing_budget = 15  # short mode only
    assert model.budget_ms() == 15
    model.target = 250  # 4x4 SPADs in short mode reach about 0.33 m
    theirs.start_ranging()
    for _ in range(5):  # at our driver's inter-measurement period, which Adafruit's leaves
        clock.advance(int(model.period_ms() * 1000) + 1)
        assert theirs.data_ready and abs(theirs.distance * 10 - 250) <= 10
        theirs.clear_interrupt()


# -- MPU-6050 ----------------------------------------------------------------------------------
def mpu_rig(monkeypatch, source, who_am_i=0x68):
    model = MPU6050Model(source, who_am_i=who_am_i)
    bus = I2CBus({0x68: model})
    monkeypatch.setattr(adafruit_mpu6050, "sleep", model.advance)
    return model, bus, BusioI2C(bus)


@pytest.mark.parametrize("g", ORIENTATIONS, ids=ORIENT_IDS)
def test_mpu6050_adafruits_ranges_scale_as_the_model(monkeypatch, g):
    model, _bus, i2c = mpu_rig(monkeypatch, lambda t: g)
    theirs = adafruit_mpu6050.MPU6050(i2c)
    assert not model.asleep
    for code, range_g in enumerate((2, 4, 8, 16)):
        theirs.accelerometer_range = code
        assert range_g * model.lsb_per_g == 32768  # AFS_SEL: the same table on both sides
        model.advance(0.01)
        got = theirs.acceleration
        for axis in range(3):
            assert got[axis] / G * model.lsb_per_g == pytest.approx(
                expected_raw(g[axis], model.lsb_per_g), abs=1e-6
            )


@pytest.mark.parametrize("range_g", [8, 16])
@pytest.mark.parametrize("g", ORIENTATIONS, ids=ORIENT_IDS)
def test_mpu6050_fifo_and_output_registers_agree(monkeypatch, g, range_g):
    model, bus, i2c = mpu_rig(monkeypatch, lambda t: g)
    theirs = adafruit_mpu6050.MPU6050(i2c)
    ours = MPU6050(bus, rate_hz=50, range_g=range_g)
    # the range our driver set, read by Adafruit's from ACCEL_CONFIG
    assert (2, 4, 8, 16)[theirs.accelerometer_range] == range_g
    theirs.accelerometer_range = theirs.accelerometer_range  # its scale cache follows
    lsb = 1 / model.lsb_per_g
    model.advance(0.5)
    buf = array("h", bytes(6 * 32))
    n = ours.read_fifo(buf, 32)
    assert 25 <= n <= 26  # 0.51 s at 50 Hz
    cp = [a / G for a in theirs.acceleration]
    for i in range(n):
        for axis in range(3):
            assert abs(cp[axis] - g[axis]) <= lsb / 2 + 1e-9
            assert abs(buf[3 * i + axis] / 1000 - cp[axis]) <= 0.001 + 1e-9  # mg rounding


def test_mpu6500_is_refused_by_adafruits_driver_and_taken_by_ours(monkeypatch):
    """Adafruit's MPU6050 class accepts WHO_AM_I 0x68 only: it is no oracle for the 6500."""
    _model, bus, i2c = mpu_rig(monkeypatch, lambda t: (0, 0, 1), who_am_i=0x70)
    with pytest.raises(RuntimeError, match="MPU6050"):
        adafruit_mpu6050.MPU6050(i2c)
    assert MPU6050(bus).chip == "mpu6500"


# -- LSM6DS3 / LSM6DS3TR-C / LSM6DSO -----------------------------------------------------------
# (our name, WHO_AM_I, the Adafruit class with that CHIP_ID)
LSM_VARIANTS = [
    ("lsm6ds3", 0x69, LSM6DS33),
    ("lsm6ds3trc", 0x6A, LSM6DS3TRC),
    ("lsm6dso", 0x6C, LSM6DSOX),
]
LSM_IDS = [v[0] for v in LSM_VARIANTS]


def lsm_rig(monkeypatch, source, who_am_i):
    model = LSM6DSModel(source, who_am_i=who_am_i)
    bus = I2CBus({0x6A: model})
    monkeypatch.setattr(adafruit_lsm6ds, "sleep", model.advance)
    return model, bus, BusioI2C(bus)


def lsm_tolerance(code: int, g: float) -> float:
    """Adafruit scales by the datasheet's rounded sensitivity (0.061, 0.488, 0.122, 0.244 mg/LSB),
    the model by 2^-14 g x range/2: they differ by up to 0.06 % of the reading."""
    exact = 1000 * (AccelRange.string[code] / 32768)
    return abs(AccelRange.lsb[code] / exact - 1) * abs(g) + 1e-9


@pytest.mark.parametrize("variant", LSM_VARIANTS, ids=LSM_IDS)
def test_lsm6ds_who_am_i_is_what_exactly_the_matching_adafruit_class_accepts(monkeypatch, variant):
    name, who, cls = variant
    _model, bus, i2c = lsm_rig(monkeypatch, lambda t: (0, 0, 1), who)
    for other in (LSM6DS33, LSM6DS3TRC, LSM6DSOX):
        if who != other.CHIP_ID:
            with pytest.raises(RuntimeError, match="Failed to find"):
                other(i2c)
    cls(i2c)
    assert LSM6DS(bus).chip == name


@pytest.mark.parametrize("variant", LSM_VARIANTS, ids=LSM_IDS)
@pytest.mark.parametrize("g", ORIENTATIONS, ids=ORIENT_IDS)
def test_lsm6ds_adafruits_ranges_scale_as_the_model(monkeypatch, variant, g):
    model, _bus, i2c = lsm_rig(monkeypatch, lambda t: g, variant[1])
    theirs = variant[2](i2c)
    assert model.odr_hz == 104.0  # Adafruit's default data rate, decoded by the model
    for code in (0, 2, 3, 1):  # FS_XL: +-2, 4, 8, 16 g
        theirs.accelerometer_range = code  # sleeps 0.2 s: new samples at the new scale
        assert AccelRange.string[code] * model.lsb_per_g == 32768
        got = theirs.acceleration
        for axis in range(3):
            raw = expected_raw(g[axis], model.lsb_per_g)
            want = raw / model.lsb_per_g
            assert abs(got[axis] / G - want) <= lsm_tolerance(code, want)


@pytest.mark.parametrize("range_g", [8, 16])
@pytest.mark.parametrize("variant", LSM_VARIANTS, ids=LSM_IDS)
@pytest.mark.parametrize("g", ORIENTATIONS, ids=ORIENT_IDS)
def test_lsm6ds_fifo_and_output_registers_agree(monkeypatch, g, variant, range_g):
    model, bus, i2c = lsm_rig(monkeypatch, lambda t: g, variant[1])
    theirs = variant[2](i2c)
    ours = LSM6DS(bus, rate_hz=50, range_g=range_g)
    code = theirs._accel_range  # FS_XL as our driver set it, read from CTRL1_XL
    assert AccelRange.string[code] == range_g
    theirs.accelerometer_range = code  # its scale cache follows (and 0.2 s pass)
    model.advance(0.5)
    buf = array("h", bytes(6 * 64))
    n = ours.read_fifo(buf, 64)
    assert 36 <= n <= 37  # 0.7 s at 52 Hz, all batched
    lsb = 1 / model.lsb_per_g
    cp = [a / G for a in theirs.acceleration]
    for i in range(n):
        for axis in range(3):
            tol = lsm_tolerance(code, g[axis])
            assert abs(cp[axis] - g[axis]) <= lsb / 2 + tol
            assert abs(buf[3 * i + axis] / 1000 - cp[axis]) <= 0.001 + tol  # mg rounding


# -- both IMU families -------------------------------------------------------------------------
def bounce(t: float) -> tuple[float, float, float]:
    """A 2 Hz vertical bounce on a tilted device, in g."""
    return (0.25, -0.5, 1.0 + 0.6 * math.sin(2 * math.pi * 2.0 * t))


def imu_pair(monkeypatch, chip):
    """(model, Adafruit's driver, ours, Adafruit's scale tolerance in g) on one model."""
    if chip == "mpu6050":
        model, bus, i2c = mpu_rig(monkeypatch, bounce)
        theirs = adafruit_mpu6050.MPU6050(i2c)
        ours = MPU6050(bus, rate_hz=50)
        theirs.accelerometer_range = theirs.accelerometer_range  # its scale cache follows
        return model, theirs, ours, 0.0
    _name, who, cls = next(v for v in LSM_VARIANTS if v[0] == chip)
    model, bus, i2c = lsm_rig(monkeypatch, bounce, who)
    theirs = cls(i2c)
    ours = LSM6DS(bus, rate_hz=50)
    theirs.accelerometer_range = theirs._accel_range
    return model, theirs, ours, lsm_tolerance(theirs._accel_range, 1.6)


@pytest.mark.parametrize("chip", ["mpu6050", *LSM_IDS])
def test_newest_fifo_sample_is_the_output_register_sample(monkeypatch, chip):
    """While the acceleration changes, the last sample our driver takes from the FIFO is the one
    Adafruit's reads from the output registers (both datasheets: the FIFO stores the output
    registers' samples at the output data rate)."""
    model, theirs, ours, tol = imu_pair(monkeypatch, chip)
    buf = array("h", bytes(6 * 64))
    for step in (0.13, 0.21, 0.34):
        model.advance(step)
        n = ours.read_fifo(buf, 64)
        cp = theirs.acceleration
        assert n > 0
        for axis in range(3):
            assert abs(buf[3 * (n - 1) + axis] / 1000 - cp[axis] / G) <= 0.001 + tol + 1e-9
