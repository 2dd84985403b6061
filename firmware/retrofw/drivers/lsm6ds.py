"""LSM6DS3 / LSM6DSO accelerometer over I2C: FIFO-batched readings in milli-g.

Only the accelerometer is used. The chip is identified by WHO_AM_I (0x69 LSM6DS3, 0x6C
LSM6DSO); anything else raises OSError. Full scale +-8 g (default) or +-16 g (4096 or 2048
LSB/g: 0.244 / 0.488 mg/LSB), output data rate 52 Hz or 104 Hz (the chip has no 25/50/100 Hz),
block data update and address auto-increment on. The FIFO runs in continuous mode with the
accelerometer only: the LSM6DS3 stores untagged 16-bit words X, Y, Z (8 kbyte); the LSM6DSO
stores 7-byte words, a tag (sensor in bits 7:3) then X, Y, Z (3 kbyte). Either way the app
reads every ~100-500 ms in one burst.

Usage: `imu = LSM6DS(i2c, rate_hz=50)`; `imu.rate_hz` is the rate actually delivered (26, 52 or
104 Hz: requested rates below 52 Hz are served by averaging k chip samples); then
`n = imu.read_fifo(buf, max_samples)` with `buf = array('h', 3 * max_samples)`. Faults: a missing
chip raises OSError from the bus (NACK); a FIFO overrun or a word out of step resets the FIFO,
counts `overflows` and returns 0; `stuck` is True after `_STUCK_SAMPLES` identical raw samples.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


from retrofw import wire

_LSM_ADDR = const(0x6A)
_CTRL3_BDU_INC = const(0x44)
_MODE_BYPASS = const(0)
_MODE_CONTINUOUS = const(6)
_OVERRUN = const(0x40)
_CHUNK = const(16)  # words per burst read
_STUCK_SAMPLES = const(32)


class LSM6DS:
    """LSM6DS3 or LSM6DSO on `i2c` at `addr` (0x6A or 0x6B).

    rate_hz: requested samples per second, 25-100 (ValueError outside); see `rate_hz` after
    construction for the delivered rate. range_g: 8 or 16.
    """

    def __init__(self, i2c, addr=_LSM_ADDR, rate_hz=50, range_g=8):
        if not (wire.IMU_RATE_MIN_HZ <= rate_hz <= wire.IMU_RATE_MAX_HZ):
            raise ValueError("rate_hz must be 25-100")
        if range_g not in (8, 16):
            raise ValueError("range_g must be 8 or 16")
        self._i2c = i2c
        self._addr = addr
        self._b1 = bytearray(1)
        self._status = bytearray(4)
        self._one = bytearray(6)
        who = self._read8(wire.LSM_REG_WHO_AM_I)
        if who == wire.LSM6DS3_WHO_AM_I:
            self.chip = "lsm6ds3"
            self._word = 6
        elif who == wire.LSM6DSO_WHO_AM_I:
            self.chip = "lsm6dso"
            self._word = 7
        else:
            raise OSError("no LSM6DS3/LSM6DSO at I2C 0x%02x: WHO_AM_I is 0x%02x, expected 0x69 or "
                          "0x6c; check the wiring and the board profile's imu kind" % (addr, who))
        self._burst = bytearray(self._word * _CHUNK)
        # views of 1.._CHUNK words, made once so a batch read allocates nothing
        self._views = [memoryview(self._burst)[: self._word * (i + 1)] for i in range(_CHUNK)]
        if rate_hz <= 52:
            self._odr_code = 3
            self.odr_hz = 52
        else:
            self._odr_code = 4
            self.odr_hz = 104
        k = (self.odr_hz + rate_hz // 2) // rate_hz
        if k < 1:
            k = 1
        self._k = k
        self.rate_hz = self.odr_hz // k
        self.range_g = range_g
        self._shift = 9 if range_g == 8 else 8  # mg = raw * 125 >> shift
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
        self._write8(wire.LSM_REG_CTRL3_C, _CTRL3_BDU_INC)
        fs = wire.LSM_FS_8G if range_g == 8 else wire.LSM_FS_16G
        self._write8(wire.LSM_REG_CTRL1_XL, (self._odr_code << 4) | (fs << 2))
        if self.chip == "lsm6ds3":
            self._write8(wire.LSM3_REG_FIFO_CTRL3, 0x01)  # accelerometer, no decimation
        else:
            self._write8(wire.LSMO_REG_FIFO_CTRL3, self._odr_code)  # BDR_XL, gyro not batched
        self.reset_fifo()

    def _read8(self, reg):
        self._i2c.readfrom_mem_into(self._addr, reg, self._b1)
        return self._b1[0]

    def _write8(self, reg, value):
        self._b1[0] = value
        self._i2c.writeto_mem(self._addr, reg, self._b1)

    def _set_mode(self, mode):
        if self.chip == "lsm6ds3":
            self._write8(wire.LSM3_REG_FIFO_CTRL5, (self._odr_code << 3) | mode)
        else:
            self._write8(wire.LSMO_REG_FIFO_CTRL4, mode)

    def reset_fifo(self):
        """Empty the FIFO (bypass mode) and restart batching (continuous mode)."""
        self._set_mode(_MODE_BYPASS)
        self._set_mode(_MODE_CONTINUOUS)
        self._nacc = 0
        self._acc0 = self._acc1 = self._acc2 = 0

    def fifo_words(self):
        """Unread FIFO words, and whether the FIFO overran (as words, or -1 on overrun)."""
        self._i2c.readfrom_mem_into(self._addr, wire.LSM3_REG_FIFO_STATUS1, self._status)
        s = self._status
        if s[1] & _OVERRUN:
            return -1
        if self.chip == "lsm6ds3":
            words = ((s[1] & 0x0F) << 8) | s[0]
            if words and ((s[3] << 8) | s[2]) % 3:
                return -1  # the next word is not an X: out of step
            return words // 3
        return ((s[1] & 0x03) << 8) | s[0]

    def read(self, out):
        """One current sample (not from the FIFO) into out[0:3], mg."""
        self._i2c.readfrom_mem_into(self._addr, wire.LSM_REG_OUTX_L_XL, self._one)
        b = self._one
        sh = self._shift
        for j in range(3):
            v = b[2 * j] | (b[2 * j + 1] << 8)
            if v >= 32768:
                v -= 65536
            out[j] = (v * 125) >> sh

    def read_fifo(self, out, max_samples):
        """Move up to `max_samples` samples into `out` (X, Y, Z mg interleaved); return how many.

        Returns 0 after an overrun (the FIFO is reset and `overflows` counts it).
        """
        avail = self.fifo_words()
        if avail < 0:
            self.overflows += 1
            self.reset_fifo()
            return 0
        reg = wire.LSM3_REG_FIFO_DATA_OUT_L
        off = 0
        if self.chip == "lsm6dso":
            reg = wire.LSMO_REG_FIFO_DATA_OUT_TAG
            off = 1
        w = self._word
        n = 0
        k = self._k
        while avail > 0 and n < max_samples:
            # as many whole words as fit the burst, the FIFO and the caller's buffer
            take = (max_samples - n) * k - self._nacc
            if take > avail:
                take = avail
            if take > _CHUNK:
                take = _CHUNK
            if take < 1:
                take = 1
            buf = self._views[take - 1]
            self._i2c.readfrom_mem_into(self._addr, reg, buf)
            avail -= take
            i = 0
            while i < take * w:
                if off == 0 or (buf[i] >> 3) == wire.LSMO_TAG_XL:
                    n += self._sample(buf, i + off, out, n)
                i += w
        return n

    def _sample(self, b, i, out, n):
        x = b[i] | (b[i + 1] << 8)
        y = b[i + 2] | (b[i + 3] << 8)
        z = b[i + 4] | (b[i + 5] << 8)
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
