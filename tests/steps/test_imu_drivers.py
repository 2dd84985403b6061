"""IMU drivers against register models of the chips, including faults (CPython, I2CBus)."""

from __future__ import annotations

import math
from array import array

import pytest

from retrofw.drivers.lsm6ds import LSM6DS
from retrofw.drivers.mpu6050 import MPU6050
from retrorun.devtools.models.bus import I2CBus
from retrorun.devtools.models.lsm6ds import LSM6DSModel
from retrorun.devtools.models.mpu6050 import MPU6050Model

# WHO_AM_I values: RM-MPU-6000A (0x68), MPU-6500 register map (0x70), LSM6DS3 DocID026899
# (0x69), LSM6DSO DS12140 (0x6C)
# (chip name, model factory, driver class, I2C address)
CHIPS = [
    ("mpu6050", lambda src: MPU6050Model(src, who_am_i=0x68), MPU6050, 0x68),
    ("mpu6500", lambda src: MPU6050Model(src, who_am_i=0x70), MPU6050, 0x68),
    ("lsm6ds3", lambda src: LSM6DSModel(src, who_am_i=0x69), LSM6DS, 0x6A),
    ("lsm6dso", lambda src: LSM6DSModel(src, who_am_i=0x6C), LSM6DS, 0x6A),
    # WHO_AM_I 0x6A: the LSM6DS3TR-C on most current "LSM6DS3" boards (ST datasheet)
    ("lsm6ds3trc", lambda src: LSM6DSModel(src, who_am_i=0x6A), LSM6DS, 0x6A),
]
IDS = [c[0] for c in CHIPS]


def wobble(t: float) -> tuple[float, float, float]:
    """A known acceleration in g: a 2 Hz vertical bounce on a tilted device."""
    return (0.25, -0.5, 1.0 + 0.6 * math.sin(2 * math.pi * 2.0 * t))


def _setup(chip, source=wobble, rate=50, range_g=8):
    _name, make_model, driver_cls, addr = chip
    model = make_model(source)
    bus = I2CBus({addr: model})
    return model, bus, driver_cls(bus, addr, rate_hz=rate, range_g=range_g)


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_identifies_the_chip_and_configures_range_rate_and_fifo(chip):
    model, _bus, imu = _setup(chip)
    assert imu.chip == chip[0]
    if chip[2] is MPU6050:
        assert model.lsb_per_g == 4096  # +-8 g
        assert model.sample_rate_hz == 50.0
        assert not model.asleep
    else:
        assert model.lsb_per_g == 4096
        assert model.odr_hz == 52.0
    assert imu.odr_hz >= 50
    model.advance(1.0)
    assert len(model.fifo) > 0  # samples are being batched


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_fifo_batch_gives_the_source_in_mg_with_few_bus_transfers(chip):
    model, bus, imu = _setup(chip)
    buf = array("h", bytes(6 * 200))
    model.advance(1.5)  # the MPU-6500's 512-byte FIFO holds 1.7 s at 50 Hz
    before = bus.transactions
    n = imu.read_fifo(buf, 200)
    transfers = bus.transactions - before
    assert n == model.samples  # every sample the chip made, in order
    period = 1.0 / imu.odr_hz
    for i in range(n):
        expect = wobble(i * period)
        got = buf[3 * i: 3 * i + 3]
        for e, g in zip(expect, got, strict=True):
            assert abs(e * 1000 - g) <= 1.0, (i, expect, list(got))
    assert transfers <= n / 8 + 4, f"{transfers} bus transfers for {n} samples: not batched"


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_16g_range_keeps_running_impacts_unclipped(chip):
    def impact(t):
        return (0.0, 0.0, 7.5)

    model, _bus, imu = _setup(chip, impact, range_g=16)
    assert model.lsb_per_g == 2048
    buf = array("h", bytes(6 * 10))
    model.advance(0.1)
    n = imu.read_fifo(buf, 10)
    assert n > 0 and all(abs(buf[3 * i + 2] - 7500) <= 1 for i in range(n))


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_low_rate_averages_chip_samples(chip):
    model, _bus, imu = _setup(chip, rate=25)
    assert imu.odr_hz >= 50 and imu.rate_hz in (25, 26)
    buf = array("h", bytes(6 * 100))
    model.advance(1.5)
    n = imu.read_fifo(buf, 100)
    assert n == model.samples // 2
    # a 2 Hz bounce averaged over pairs: still there, slightly smaller
    zs = [buf[3 * i + 2] for i in range(n)]
    assert 1450 < max(zs) <= 1600 and 400 <= min(zs) < 550


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_wrong_who_am_i_is_refused_with_a_clear_message(chip):
    model, bus, _ = _setup(chip)
    model.who_am_i = 0x12
    with pytest.raises(OSError, match=r"WHO_AM_I is 0x12"):
        chip[2](bus, chip[3])


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_a_chip_lost_mid_run_reads_nothing_and_is_set_up_again(chip):
    """Missing at start-up: OSError. Lost later (NACK, SDA held low): read_fifo returns 0 and
    never raises (an exception would end the app's IMU task and reset the board); once the
    chip answers again - back at its power-on defaults - the next read sets it up again."""
    model, bus, imu = _setup(chip)
    buf = array("h", bytes(60))
    bus.unplugged.add(chip[3])
    with pytest.raises(OSError):
        chip[2](bus, chip[3])
    model.advance(0.2)
    assert imu.read_fifo(buf, 10) == 0 and imu.lost and imu.bus_errors == 1
    assert imu.read_fifo(buf, 10) == 0 and imu.bus_errors == 2  # still gone: set-up fails
    model._power_on()  # it lost power with the connector
    bus.unplugged.clear()
    assert imu.read_fifo(buf, 10) == 0 and not imu.lost  # set up again
    model.advance(0.2)
    assert imu.read_fifo(buf, 10) > 0  # samples again


@pytest.mark.parametrize("who", [0x68, 0x70], ids=["mpu6050", "mpu6500"])
def test_a_stuck_fifo_overflow_bit_does_not_stop_the_samples(who):
    """Some MPU-6050 parts read INT_STATUS.FIFO_OFLOW set all the time (Linux inv_mpu6050,
    commit 6e82ae6b8d11): a driver that trusts the bit resets the FIFO on every read."""
    model = MPU6050Model(wobble, who_am_i=who, stuck_oflow=True)
    bus = I2CBus({0x68: model})
    imu = MPU6050(bus, 0x68, rate_hz=50)
    buf = array("h", bytes(6 * 64))
    got = 0
    for _ in range(5):
        model.advance(0.2)
        got += imu.read_fifo(buf, 64)
    assert 45 <= got <= 55 and imu.overflows == 0  # 1 s at 50 Hz
    model.advance(120.0)  # a real overflow is still seen: the FIFO is full
    assert imu.read_fifo(buf, 64) == 0 and imu.overflows == 1


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_fifo_overflow_is_counted_and_recovered(chip):
    model, _bus, imu = _setup(chip)
    buf = array("h", bytes(6 * 64))
    model.advance(120.0)  # far longer than the FIFO holds
    assert model.fifo_dropped > 0
    assert imu.read_fifo(buf, 64) == 0
    assert imu.overflows == 1
    model.advance(0.5)
    n = imu.read_fifo(buf, 64)
    assert 20 <= n <= 27 and imu.overflows == 1
    # the data is in step again: X is X
    assert all(abs(buf[3 * i] - 250) <= 1 for i in range(n))


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_frozen_chip_is_reported_stuck(chip):
    model, _bus, imu = _setup(chip)
    buf = array("h", bytes(6 * 128))
    model.advance(1.0)
    imu.read_fifo(buf, 128)
    assert not imu.stuck
    model.frozen = True
    model.advance(1.0)
    imu.read_fifo(buf, 128)
    assert imu.stuck
    model.frozen = False
    model.advance(0.2)
    imu.read_fifo(buf, 128)
    assert not imu.stuck


@pytest.mark.parametrize("chip", CHIPS, ids=IDS)
def test_read_one_sample_from_the_output_registers(chip):
    model, _bus, imu = _setup(chip)
    model.advance(0.125)  # 2 Hz bounce at its peak is at t = 0.125 s
    out = array("h", [0, 0, 0])
    imu.read(out)
    assert abs(out[0] - 250) <= 1 and abs(out[1] + 500) <= 1 and 1550 <= out[2] <= 1601


def test_bad_arguments_are_refused():
    bus = I2CBus({0x68: MPU6050Model()})
    with pytest.raises(ValueError, match="25-100"):
        MPU6050(bus, rate_hz=10)
    with pytest.raises(ValueError, match="8 or 16"):
        MPU6050(bus, range_g=4)


def test_recording_through_chip_model_driver_and_counter_gives_the_evaluator_count():
    """End to end: a real recording drives the chip model; the driver's FIFO batches feed the
    firmware counter; the count equals the evaluator's (which resamples on the host)."""
    from pathlib import Path

    from retrofw.steps import StepCounter
    from retrorun.devtools.steps_eval import count, load_recording, resample

    path = Path(__file__).resolve().parents[2].parent / "shared/data/steps/dev/ipol-1-1.csv.gz"
    if not path.exists():
        pytest.skip("shared step recordings not present")
    rec = load_recording(path)
    data = array("h", resample(rec, 50))
    n_samples = len(data) // 3

    def source(t: float):
        i = min(n_samples - 1, round(t * 50))
        return tuple(data[3 * i + j] / 1000.0 for j in range(3))

    model = MPU6050Model(source)
    bus = I2CBus({0x68: model})
    imu = MPU6050(bus)
    counter = StepCounter(imu.rate_hz)
    buf = array("h", bytes(6 * 32))
    k = 0
    while k < n_samples:
        model.advance(0.32)  # the app reads the FIFO about three times a second
        n = imu.read_fifo(buf, 32)
        for i in range(n):
            counter.update(k * 20, buf[3 * i], buf[3 * i + 1], buf[3 * i + 2])
            k += 1
    counter.finish()
    assert imu.overflows == 0
    expected = count([data.tobytes()[: 6 * k]], 50, "cpython")[0][0]
    assert counter.steps == expected
    assert abs(counter.steps - rec.truth) <= 2


# A minimal register-level fake bus written in MicroPython itself, so the drivers run in the real
# VM: it answers WHO_AM_I, reports a full batch waiting in the FIFO and fills reads with a ramp.
_MP_BUS = """
from array import array
class Bus:
    def __init__(self, who, who_reg, fifo_regs):
        self.who = who
        self.who_reg = who_reg
        self.fifo_regs = fifo_regs
        self.n = 0
    def writeto_mem(self, addr, reg, buf):
        pass
    def readfrom_mem_into(self, addr, reg, buf):
        if reg == self.who_reg:
            buf[0] = self.who
            return
        if reg in self.fifo_regs:  # counts/status: 48 samples' worth waiting, no overrun
            for i in range(len(buf)):
                buf[i] = 0
            buf[0] = self.fifo_regs[reg]
            return
        for i in range(len(buf)):
            self.n = (self.n + 1) & 0x3F
            buf[i] = self.n
            if reg == 0x78 and i % 7 == 0:
                buf[i] = 0x10  # LSM6DSO tag: accelerometer word
"""


@pytest.mark.micropython
@pytest.mark.parametrize("chip, who, module, cls, who_reg, fifo_regs", [
    ("mpu6050", 0x68, "mpu6050", "MPU6050", 0x75, {0x72: 0, 0x3A: 0}),
    ("mpu6500", 0x70, "mpu6050", "MPU6050", 0x75, {0x72: 0, 0x3A: 0}),
    ("lsm6ds3", 0x69, "lsm6ds", "LSM6DS", 0x0F, {0x3A: 144}),
    ("lsm6dso", 0x6C, "lsm6ds", "LSM6DS", 0x0F, {0x3A: 48}),
])
def test_drivers_run_in_micropython_and_batch_reads_allocate_nothing(mpy, chip, who, module,
                                                                     cls, who_reg, fifo_regs):
    regs = dict(fifo_regs)
    if module == "mpu6050":
        regs[0x72] = 1  # FIFO_COUNTH = 1 -> 256 + 32 bytes = 48 samples
        code_count = "bus.fifo_regs[0x73] = 32\n"
    else:
        code_count = ""
    code = _MP_BUS + f"""
from retrofw.drivers.{module} import {cls}
bus = Bus({who}, {who_reg}, {regs!r})
{code_count}imu = {cls}(bus, rate_hz=50)
out = array('h', bytes(6 * 48))
got = [0]
def batch(n):
    got[0] = imu.read_fifo(out, n)
batch(48)
no_alloc(batch, 48)
result = [imu.chip, got[0], imu.overflows]
"""
    if module == "mpu6050":
        # FIFO_COUNTL lives at 0x73: the fake reads it together with 0x72 in one 2-byte read
        code = code.replace("buf[0] = self.fifo_regs[reg]",
                            "buf[0] = self.fifo_regs[reg]\n            "
                            "if len(buf) > 1 and reg == 0x72: buf[1] = 32")
    name, n, overflows = mpy.eval(code)
    assert name == chip and n == 48 and overflows == 0
