"""LSM6DS3 / LSM6DSO accelerometer over I2C: FIFO-batched readings in milli-g.

Only the accelerometer is used. The chip is identified by WHO_AM_I (0x69 LSM6DS3, 0x6A
LSM6DS3TR-C, the part on most boards sold as "LSM6DS3" today, 0x6C LSM6DSO); anything else
raises OSError. The LSM6DS3TR-C is driven as the LSM6DS3: the same FIFO registers (FIFO_CTRL1-5
at 0x06-0x0A, FIFO_STATUS1-4 at 0x3A-0x3D, FIFO_DATA_OUT at 0x3E) and untagged words, a 4 kbyte
FIFO instead of 8 (ST LSM6DS3TR-C datasheet; Linux st_lsm6dsx and Adafruit's LSM6DS3TRC class
use ID 0x6A). Full scale +-8 g (default) or +-16 g (4096 or 2048
LSB/g: 0.244 / 0.488 mg/LSB), output data rate 52 Hz or 104 Hz (the chip has no 25/50/100 Hz),
block data update and address auto-increment on. The FIFO runs in continuous mode with the
accelerometer only: the LSM6DS3 stores untagged 16-bit words X, Y, Z (8 kbyte); the LSM6DSO
stores 7-byte words, a tag (sensor in bits 7:3) then X, Y, Z (3 kbyte). Either way the app
reads every ~100-500 ms in one burst.

Usage: `imu = LSM6DS(i2c, rate_hz=50)`; `imu.rate_hz` is the rate actually delivered (26, 52 or
104 Hz: requested rates below 52 Hz are served by averaging k chip samples); then
`n = imu.read_fifo(buf, max_samples)` with `buf = array('h', 3 * max_samples)`. Faults: a chip
missing at start-up raises OSError from the bus (NACK); one lost later makes `read_fifo` return
0 (`lost`, `bus_errors`) and is set up again when it answers; a FIFO overrun or a word out of
step resets the FIFO, counts `overflows` and returns 0; `stuck` is True after `_imufifo._STUCK_SAMPLES` identical raw
samples. The FIFO reading, averaging and stuck check are shared with the MPU-6050 driver
(retrofw.drivers._imufifo); this module holds the LSM6DS chip facts.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


from retrofw.drivers._imufifo import FifoAccel

# Register map: LSM6DS3 datasheet DocID026899, LSM6DSO datasheet DS12140
_ADDR = const(0x6A)  # SA0 low; 0x6B with SA0 high
_LSM6DS3_WHO_AM_I = const(0x69)
_LSM6DSO_WHO_AM_I = const(0x6C)
_LSM6DS3TRC_WHO_AM_I = const(0x6A)
_REG_WHO_AM_I = const(0x0F)
_REG_CTRL1_XL = const(0x10)  # ODR_XL bits 7:4 (3 = 52 Hz, 4 = 104 Hz), FS_XL bits 3:2
_REG_CTRL3_C = const(0x12)  # BOOT 7, BDU 6, IF_INC 2, SW_RESET 0
_REG_OUTX_L_XL = const(0x28)  # 6 bytes, little-endian X, Y, Z
_FS_16G = const(1)  # FS_XL codes: 0 +-2 g, 1 +-16 g, 2 +-4 g, 3 +-8 g
_FS_8G = const(3)
# LSM6DS3 FIFO: untagged 16-bit words; reads of FIFO_DATA_OUT_L roll over within L/H.
_DS3_REG_FIFO_CTRL3 = const(0x08)  # DEC_FIFO_XL bits 2:0 (1 = no decimation)
_DS3_REG_FIFO_CTRL5 = const(0x0A)  # ODR_FIFO bits 6:3, FIFO_MODE bits 2:0 (6 = continuous)
_DS3_REG_FIFO_STATUS1 = const(0x3A)  # DIFF_FIFO[7:0], unread 16-bit words; STATUS2..4 follow
_DS3_REG_FIFO_DATA_OUT_L = const(0x3E)
# LSM6DSO FIFO: 7-byte tagged words; reads from FIFO_DATA_OUT_TAG roll over every 7 bytes.
_DSO_REG_FIFO_CTRL3 = const(0x09)  # BDR_XL bits 3:0 (3 = 52 Hz, 4 = 104 Hz)
_DSO_REG_FIFO_CTRL4 = const(0x0A)  # FIFO_MODE bits 2:0 (6 = continuous)
_DSO_REG_FIFO_DATA_OUT_TAG = const(0x78)  # tag byte, then X, Y, Z little-endian
_DSO_TAG_XL = const(0x02)  # TAG_SENSOR (tag byte bits 7:3) of accelerometer words

_CTRL3_BDU_INC = const(0x44)
_MODE_BYPASS = const(0)
_MODE_CONTINUOUS = const(6)
_OVERRUN = const(0x40)


class LSM6DS(FifoAccel):
    """LSM6DS3 or LSM6DSO on `i2c` at `addr` (0x6A or 0x6B).

    rate_hz: requested samples per second, 25-100 (ValueError outside); see `rate_hz` after
    construction for the delivered rate. range_g: 8 or 16.
    """

    def __init__(self, i2c, addr=_ADDR, rate_hz=50, range_g=8):
        self._attach(i2c, addr, rate_hz, range_g, _REG_OUTX_L_XL, False)
        self._status = bytearray(4)
        who = self._read8(_REG_WHO_AM_I)
        if who == _LSM6DS3_WHO_AM_I:
            self.chip = "lsm6ds3"
        elif who == _LSM6DS3TRC_WHO_AM_I:
            self.chip = "lsm6ds3trc"
        elif who == _LSM6DSO_WHO_AM_I:
            self.chip = "lsm6dso"
        else:
            raise OSError("no LSM6DS3/LSM6DSO at I2C 0x%02x: WHO_AM_I is 0x%02x, expected "
                          "0x%02x, 0x%02x or 0x%02x; check the wiring and the board profile's "
                          "imu kind" % (addr, who, _LSM6DS3_WHO_AM_I, _LSM6DS3TRC_WHO_AM_I,
                                        _LSM6DSO_WHO_AM_I))
        self._ds3 = self.chip != "lsm6dso"  # untagged FIFO words
        if rate_hz <= 52:
            self._odr_code = 3
            self.odr_hz = 52
        else:
            self._odr_code = 4
            self.odr_hz = 104
        k = (self.odr_hz + rate_hz // 2) // rate_hz
        if k < 1:
            k = 1
        self.rate_hz = self.odr_hz // k
        if self._ds3:  # untagged 16-bit words X, Y, Z: one 6-byte sample
            self._batching(6, _DS3_REG_FIFO_DATA_OUT_L, -1, k, range_g)
        else:  # 7-byte words: tag, X, Y, Z
            self._batching(7, _DSO_REG_FIFO_DATA_OUT_TAG, _DSO_TAG_XL, k, range_g)
        self._setup()

    def _setup(self):
        """Range, rate and the FIFO (start-up, and after a bus failure)."""
        self._write8(_REG_CTRL3_C, _CTRL3_BDU_INC)
        fs = _FS_8G if self.range_g == 8 else _FS_16G
        self._write8(_REG_CTRL1_XL, (self._odr_code << 4) | (fs << 2))
        if self._ds3:
            self._write8(_DS3_REG_FIFO_CTRL3, 0x01)  # accelerometer, no decimation
        else:
            self._write8(_DSO_REG_FIFO_CTRL3, self._odr_code)  # BDR_XL, gyro not batched
        self.reset_fifo()

    def _set_mode(self, mode):
        if self._ds3:
            self._write8(_DS3_REG_FIFO_CTRL5, (self._odr_code << 3) | mode)
        else:
            self._write8(_DSO_REG_FIFO_CTRL4, mode)

    def reset_fifo(self):
        """Empty the FIFO (bypass mode) and restart batching (continuous mode)."""
        self._set_mode(_MODE_BYPASS)
        self._set_mode(_MODE_CONTINUOUS)
        self._clear_average()

    def fifo_words(self):
        """Unread FIFO words, and whether the FIFO overran (as words, or -1 on overrun)."""
        self._i2c.readfrom_mem_into(self._addr, _DS3_REG_FIFO_STATUS1, self._status)
        s = self._status
        if s[1] & _OVERRUN:
            return -1
        if self._ds3:
            words = ((s[1] & 0x0F) << 8) | s[0]
            if words and ((s[3] << 8) | s[2]) % 3:
                return -1  # the next word is not an X: out of step
            return words // 3
        return ((s[1] & 0x03) << 8) | s[0]

    def _available(self):
        return self.fifo_words()
