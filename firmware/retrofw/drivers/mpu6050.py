"""MPU-6050 / MPU-6500 accelerometer over I2C: FIFO-batched readings in milli-g.

Only the accelerometer is used (steps, cadence and posture need nothing else). The chip is
identified by WHO_AM_I (0x68 MPU-6050, 0x70 MPU-6500); anything else raises OSError. The
accelerometer runs at +-8 g (default) or +-16 g, so running impacts (3-6 g at the waist) do
not clip, with an output data rate of at least 50 Hz from 1 kHz / (1 + SMPLRT_DIV) and the
digital low-pass filter set below half that rate. Samples queue in the chip's FIFO (1024 bytes
on the 6050, 512 on the 6500: 3.4 s / 1.7 s at 50 Hz), so the app reads them in batches at
least once a second.

Usage: `imu = MPU6050(i2c, rate_hz=50)`, then every ~100-500 ms
`n = imu.read_fifo(buf, max_samples)` with `buf = array('h', 3 * max_samples)`: X, Y, Z in mg,
interleaved. A requested rate below 50 Hz is served by averaging k = ceil(50 / rate) chip
samples (the chip then runs at rate * k). Faults: a missing or unplugged chip raises OSError
from the bus (NACK); a FIFO overflow (the app read too late) resets the FIFO, counts
`overflows` and returns 0 for that read; `stuck` becomes True when the chip returns the same
raw sample `_STUCK_SAMPLES` times in a row (a frozen chip: real readings always carry noise).
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


from retrofw import wire

_MPU_ADDR = const(0x68)
_FIFO_OFLOW = const(0x10)
_FIFO_EN_BIT = const(0x40)
_FIFO_RESET_BIT = const(0x04)
_ACCEL_FIFO = const(0x08)
_CLK_PLL = const(0x01)  # wake up (SLEEP=0), clock from the X gyro PLL
_CHUNK = const(16)  # samples per burst read
_STUCK_SAMPLES = const(32)
_MIN_ODR = const(50)


class MPU6050:
    """MPU-6050 or MPU-6500 on `i2c` at `addr` (0x68 or 0x69).

    rate_hz: samples per second delivered by `read_fifo`, 25-100 (ValueError outside); the
    delivered rate is exact for divisors of 1000 (25, 40, 50, 100 Hz). range_g: 8 or 16.
    """

    def __init__(self, i2c, addr=_MPU_ADDR, rate_hz=50, range_g=8):
        if not (wire.IMU_RATE_MIN_HZ <= rate_hz <= wire.IMU_RATE_MAX_HZ):
            raise ValueError("rate_hz must be 25-100")
        if range_g not in (8, 16):
            raise ValueError("range_g must be 8 or 16")
        self._i2c = i2c
        self._addr = addr
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self._burst = bytearray(6 * _CHUNK)
        # views of 1.._CHUNK samples, made once so a batch read allocates nothing
        self._views = [memoryview(self._burst)[: 6 * (i + 1)] for i in range(_CHUNK)]
        self._one = bytearray(6)
        who = self._read8(wire.MPU_REG_WHO_AM_I)
        if who == wire.MPU6050_WHO_AM_I:
            self.chip = "mpu6050"
        elif who == wire.MPU6500_WHO_AM_I:
            self.chip = "mpu6500"
        else:
            raise OSError("no MPU-6050/6500 at I2C 0x%02x: WHO_AM_I is 0x%02x, expected 0x68 or "
                          "0x70; check the wiring and the board profile's imu kind" % (addr, who))
        k = (_MIN_ODR + rate_hz - 1) // rate_hz
        div = 1000 // (rate_hz * k) - 1
        self.odr_hz = 1000 // (div + 1)
        self._k = k
        self.rate_hz = self.odr_hz // k
        self.range_g = range_g
        self._shift = 9 if range_g == 8 else 8  # mg = raw * 125 >> shift (4096 or 2048 LSB/g)
        # DLPF: 44/41 Hz at >= 100 Hz ODR, 21/20 Hz at >= 50 Hz
        dlpf = 3 if self.odr_hz >= 100 else 4
        self._write8(wire.MPU_REG_PWR_MGMT_1, _CLK_PLL)
        self._write8(wire.MPU_REG_SMPLRT_DIV, div)
        self._write8(wire.MPU_REG_CONFIG, dlpf)
        self._write8(wire.MPU_REG_ACCEL_CONFIG, (2 if range_g == 8 else 3) << 3)
        if self.chip == "mpu6500":
            self._write8(wire.MPU_REG_ACCEL_CONFIG2, dlpf)
        self.overflows = 0
        self.stuck = False
        self._same = 0
        self._last0 = 0
        self._last1 = 0
        self._last2 = 0
        self._acc0 = 0
        self._acc1 = 0
        self._acc2 = 0
        self._nacc = 0
        self._write8(wire.MPU_REG_FIFO_EN, _ACCEL_FIFO)
        self.reset_fifo()

    def _read8(self, reg):
        self._i2c.readfrom_mem_into(self._addr, reg, self._b1)
        return self._b1[0]

    def _write8(self, reg, value):
        self._b1[0] = value
        self._i2c.writeto_mem(self._addr, reg, self._b1)

    def reset_fifo(self):
        """Empty the FIFO and restart batching."""
        self._write8(wire.MPU_REG_USER_CTRL, _FIFO_RESET_BIT)
        self._write8(wire.MPU_REG_USER_CTRL, _FIFO_EN_BIT)
        self._nacc = 0
        self._acc0 = self._acc1 = self._acc2 = 0

    def fifo_samples(self):
        """Whole samples waiting in the FIFO (chip rate, before averaging)."""
        self._i2c.readfrom_mem_into(self._addr, wire.MPU_REG_FIFO_COUNTH, self._b2)
        return ((self._b2[0] << 8) | self._b2[1]) // 6

    def read(self, out):
        """One current sample (not from the FIFO) into out[0:3], mg."""
        self._i2c.readfrom_mem_into(self._addr, wire.MPU_REG_ACCEL_XOUT_H, self._one)
        b = self._one
        sh = self._shift
        for j in range(3):
            v = (b[2 * j] << 8) | b[2 * j + 1]
            if v >= 32768:
                v -= 65536
            out[j] = (v * 125) >> sh

    def read_fifo(self, out, max_samples):
        """Move up to `max_samples` samples into `out` (X, Y, Z mg interleaved); return how many.

        Returns 0 after an overflow (the FIFO is reset and `overflows` counts it).
        """
        if self._read8(wire.MPU_REG_INT_STATUS) & _FIFO_OFLOW:
            self.overflows += 1
            self.reset_fifo()
            return 0
        avail = self.fifo_samples()
        n = 0
        k = self._k
        while avail > 0 and n < max_samples:
            # as many whole samples as fit the burst, the FIFO and the caller's buffer
            take = (max_samples - n) * k - self._nacc
            if take > avail:
                take = avail
            if take > _CHUNK:
                take = _CHUNK
            if take < 1:
                take = 1
            buf = self._views[take - 1]
            self._i2c.readfrom_mem_into(self._addr, wire.MPU_REG_FIFO_R_W, buf)
            avail -= take
            i = 0
            while i < take * 6:
                n += self._sample(buf, i, out, n)
                i += 6
        return n

    def _sample(self, b, i, out, n):
        x = (b[i] << 8) | b[i + 1]
        y = (b[i + 2] << 8) | b[i + 3]
        z = (b[i + 4] << 8) | b[i + 5]
        if x == self._last0 and y == self._last1 and z == self._last2:
            self._same += 1
            if self._same >= _STUCK_SAMPLES:
                self.stuck = True
        else:
            self._same = 0
            self.stuck = False
            self._last0 = x
            self._last1 = y
            self._last2 = z
        if x >= 32768:
            x -= 65536
        if y >= 32768:
            y -= 65536
        if z >= 32768:
            z -= 65536
        self._acc0 += x
        self._acc1 += y
        self._acc2 += z
        self._nacc += 1
        if self._nacc < self._k:
            return 0
        sh = self._shift
        k = self._k
        j = 3 * n
        out[j] = ((self._acc0 // k) * 125) >> sh
        out[j + 1] = ((self._acc1 // k) * 125) >> sh
        out[j + 2] = ((self._acc2 // k) * 125) >> sh
        self._acc0 = self._acc1 = self._acc2 = 0
        self._nacc = 0
        return 1
