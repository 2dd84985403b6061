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
samples (the chip then runs at rate * k). Faults: a chip missing at start-up raises OSError
from the bus (NACK); one lost later makes `read_fifo` return 0 (`lost`, `bus_errors`) and is
set up again when it answers; a FIFO overflow (the app read too late) resets the FIFO, counts
`overflows` and returns 0 for that read; `stuck` becomes True when the chip returns the same
raw sample `_imufifo._STUCK_SAMPLES` times in a row (a frozen chip: real readings always carry
noise). The FIFO reading, averaging and stuck check are shared with the LSM6DS driver
(retrofw.drivers._imufifo); this module holds the MPU-6050/6500 chip facts.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


from retrofw.drivers._imufifo import FifoAccel

# Register map RM-MPU-6000A (MPU-6050) and the MPU-6500 register map
_ADDR = const(0x68)  # AD0 low; 0x69 with AD0 high
_MPU6050_WHO_AM_I = const(0x68)
_MPU6500_WHO_AM_I = const(0x70)
_REG_SMPLRT_DIV = const(0x19)  # sample rate = 1 kHz / (1 + div) with the DLPF on
_REG_CONFIG = const(0x1A)  # DLPF_CFG bits 2:0; FIFO_MODE bit 6 (6500: 1 = stop when full)
_REG_ACCEL_CONFIG = const(0x1C)  # AFS_SEL bits 4:3: 0 +-2 g, 1 +-4 g, 2 +-8 g, 3 +-16 g
_REG_ACCEL_CONFIG2 = const(0x1D)  # MPU-6500 only: A_DLPF_CFG bits 2:0
_REG_FIFO_EN = const(0x23)  # ACCEL_FIFO_EN bit 3
_REG_INT_STATUS = const(0x3A)  # FIFO_OFLOW_INT bit 4: not trusted (stays set on some parts)
_REG_ACCEL_XOUT_H = const(0x3B)  # 6 bytes, big-endian X, Y, Z
_REG_USER_CTRL = const(0x6A)  # FIFO_EN bit 6, FIFO_RESET bit 2
_REG_PWR_MGMT_1 = const(0x6B)  # DEVICE_RESET bit 7, SLEEP bit 6, CLKSEL bits 2:0
_REG_FIFO_COUNTH = const(0x72)  # 2 bytes, big-endian byte count
_REG_FIFO_R_W = const(0x74)  # burst reads stream the FIFO
_REG_WHO_AM_I = const(0x75)

_FIFO_BYTES_6050 = const(1024)  # register map RM-MPU-6000A 4.2: 1024-byte FIFO
_FIFO_BYTES_6500 = const(512)  # MPU-6500 product specification: 512-byte FIFO
_FIFO_EN_BIT = const(0x40)
_FIFO_RESET_BIT = const(0x04)
_ACCEL_FIFO = const(0x08)
_CLK_PLL = const(0x01)  # wake up (SLEEP=0), clock from the X gyro PLL
_MIN_ODR = const(50)


class MPU6050(FifoAccel):
    """MPU-6050 or MPU-6500 on `i2c` at `addr` (0x68 or 0x69).

    rate_hz: samples per second delivered by `read_fifo`, 25-100 (ValueError outside); the
    delivered rate is exact for divisors of 1000 (25, 40, 50, 100 Hz). range_g: 8 or 16.
    """

    def __init__(self, i2c, addr=_ADDR, rate_hz=50, range_g=8):
        self._attach(i2c, addr, rate_hz, range_g, _REG_ACCEL_XOUT_H, True)
        self._b2 = bytearray(2)
        who = self._read8(_REG_WHO_AM_I)
        if who == _MPU6050_WHO_AM_I:
            self.chip = "mpu6050"
            self._fifo_bytes = _FIFO_BYTES_6050
        elif who == _MPU6500_WHO_AM_I:
            self.chip = "mpu6500"
            self._fifo_bytes = _FIFO_BYTES_6500
        else:
            raise OSError("no MPU-6050/6500 at I2C 0x%02x: WHO_AM_I is 0x%02x, expected 0x%02x or "
                          "0x%02x; check the wiring and the board profile's imu kind"
                          % (addr, who, _MPU6050_WHO_AM_I, _MPU6500_WHO_AM_I))
        k = (_MIN_ODR + rate_hz - 1) // rate_hz
        div = 1000 // (rate_hz * k) - 1
        self.odr_hz = 1000 // (div + 1)
        self.rate_hz = self.odr_hz // k
        self._batching(6, _REG_FIFO_R_W, -1, k, range_g)
        self._div = div
        self._setup()

    def _setup(self):
        """Clock, rate, filter, range and the FIFO (start-up, and after a bus failure)."""
        dlpf = 3 if self.odr_hz >= 100 else 4  # DLPF: 44/41 Hz at >= 100 Hz ODR, 21/20 at 50
        self._write8(_REG_PWR_MGMT_1, _CLK_PLL)
        self._write8(_REG_SMPLRT_DIV, self._div)
        self._write8(_REG_CONFIG, dlpf)
        self._write8(_REG_ACCEL_CONFIG, (2 if self.range_g == 8 else 3) << 3)
        if self.chip == "mpu6500":
            self._write8(_REG_ACCEL_CONFIG2, dlpf)
        self._write8(_REG_FIFO_EN, _ACCEL_FIFO)
        self.reset_fifo()

    def reset_fifo(self):
        """Empty the FIFO and restart batching."""
        self._write8(_REG_USER_CTRL, _FIFO_RESET_BIT)
        self._write8(_REG_USER_CTRL, _FIFO_EN_BIT)
        self._clear_average()

    def fifo_samples(self):
        """Whole samples waiting in the FIFO (chip rate, before averaging)."""
        self._i2c.readfrom_mem_into(self._addr, _REG_FIFO_COUNTH, self._b2)
        return ((self._b2[0] << 8) | self._b2[1]) // 6

    def _available(self):
        # Overflow is judged from FIFO_COUNT, not INT_STATUS.FIFO_OFLOW: on some MPU-6050 parts
        # that bit stays set (Linux inv_mpu6050, commit 6e82ae6b8d11), and trusting it resets
        # the FIFO on every read: no samples, no steps, ever. A FIFO that cannot take one more
        # sample has dropped the oldest ones (register map: FIFO_COUNT, FIFO overflow).
        self._i2c.readfrom_mem_into(self._addr, _REG_FIFO_COUNTH, self._b2)
        count = (self._b2[0] << 8) | self._b2[1]
        if count + 6 > self._fifo_bytes:
            return -1
        return count // 6
