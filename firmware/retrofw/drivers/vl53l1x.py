"""ST VL53L1X time-of-flight ranger over I2C (address 0x29, 16-bit register addresses).

Wiring: VIN 3.3 V, SDA/SCL on the I2C bus (400 kHz), XSHUT high or unconnected (pulled up on
most breakouts), GPIO1 (interrupt) optional: this driver polls the data-ready bit.

Set-up follows ST's ultra-lite driver (ULD, UM2510): model ID 0xEACC at 0x010F, wait for the
firmware boot bit (0x00E5), load the 91-byte default configuration at 0x002D, run one ranging
so the chip calibrates its VHV, then long distance mode (up to 4 m in the dark, about 0.73 m in
strong ambient light), the timing budget (20, 33, 50, 100, 200 or 500 ms) and the
inter-measurement period, and start continuous ranging.

`measure()` returns one int (retrofw.wire) and never raises:
- mm for range status 0 (valid) and 3 (below the minimum range: the value is clipped, but
  something is that close);
- NO_READING for sigma fail (1), signal fail (2), phase out of bounds (4), wrap-around (7) and
  unknown codes: the chip works but trusts nothing in range. In strong ambient light (the
  ambient rate at or above `ambient_blind_kcps`: sunlight on the lens) that covers only
  `usable_mm` (0.73 m), which the app signals as reduced range, not as a fault: the chip still
  sees what is near;
- SENSOR_STUCK for status 5 (hardware / VCSEL failure);
- SENSOR_NO_ACK when the bus does not answer; SENSOR_TIMEOUT when no new result arrived for
  `timeout_ms` (after either, a chip found not ranging - it lost power - is set up again); SENSOR_FROZEN when the distance *and* the signal rate are identical for
  `frozen_ms` (signal rate is a 16-bit count with photon noise: on a working chip it never
  repeats exactly for a second of readings, even on a static wall), and at once when
  `_STREAM_REPEATS` new results in a row carry the same stream count (a working chip counts
  every ranging: the same count behind a data-ready is a result that does not update, also
  with nothing in range, where there is no distance to compare).
Between results it repeats the last one; `fresh` says whether the last call read a new result.
"""

from retrofw import wire
from retrofw.ticks import ticks_diff

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_BOOT_TRIES = const(100)
_READY_TRIES = const(600)
_SUN_RANGE_MM = const(730)  # long mode, white target, strong ambient light (datasheet)
_OFF_AMBIENT = const(7)  # offsets in the 17-byte result block read from 0x0089
_OFF_STREAM = const(2)
_OFF_RANGE = const(13)
_OFF_SIGNAL = const(15)
_STATUS_VALID = const(0)
_STATUS_MIN_RANGE = const(3)
_STATUS_HW_FAIL = const(5)
_STREAM_REPEATS = const(3)  # new results with one stream count: the chip is frozen

# Register map (16-bit addresses, big-endian values), from the datasheet and ST's ultra-lite
# driver (ULD, UM2510): facts and their sources in docs/drivers.md.
_ADDR = const(0x29)
_MODEL_ID = const(0xEACC)  # IDENTIFICATION__MODEL_ID (0x010F) and MODULE_TYPE (0x0110)
_REG_VHV_LOOP_BOUND = const(0x0008)  # VHV_CONFIG__TIMEOUT_MACROP_LOOP_BOUND
_REG_VHV_START = const(0x000B)
_REG_CONFIG_START = const(0x002D)  # the default configuration block starts here
_REG_GPIO_HV_MUX_CTRL = const(0x0030)  # bit 4: interrupt polarity (0 = active high)
_REG_GPIO_TIO_HV_STATUS = const(0x0031)  # bit 0 == polarity: new range data ready
_REG_PHASECAL_TIMEOUT = const(0x004B)
_REG_TIMEOUT_A = const(0x005E)  # RANGE_CONFIG__TIMEOUT_MACROP_A_HI (16 bits)
_REG_VCSEL_PERIOD_A = const(0x0060)
_REG_TIMEOUT_B = const(0x0061)
_REG_VCSEL_PERIOD_B = const(0x0063)
_REG_VALID_PHASE_HIGH = const(0x0069)
_REG_INTERMEASUREMENT = const(0x006C)  # 32 bits, in oscillator ticks
_REG_WOI_SD0 = const(0x0078)
_REG_INITIAL_PHASE_SD0 = const(0x007A)
_REG_ROI_CENTRE = const(0x007F)  # ROI_CONFIG__USER_ROI_CENTRE_SPAD (199 = optical centre)
_REG_ROI_SIZE = const(0x0080)  # (height - 1) << 4 | (width - 1), 4..16 SPADs each way
_REG_INTERRUPT_CLEAR = const(0x0086)
_REG_MODE_START = const(0x0087)  # 0x40 start continuous ranging, 0x00 stop
_REG_RESULT = const(0x0089)  # RESULT__RANGE_STATUS; the block read spans 0x89..0x99
_RESULT_SIZE = const(17)
_REG_OSC_CALIBRATE = const(0x00DE)  # low 10 bits: oscillator ticks per ms
_REG_SYSTEM_STATUS = const(0x00E5)  # bit 0: firmware booted
_REG_MODEL_ID = const(0x010F)
_START_RANGING = const(0x40)
# ULD default configuration, registers 0x2D..0x87 (91 bytes; the last byte is written as 0x00
# here so that loading it does not start ranging by itself).
_DEFAULT_CONFIG = const(
    b"\x00\x00\x00\x01\x02\x00\x02\x08\x00\x08\x10\x01\x01\x00\x00\x00\x00\xff\x00\x0f"
    b"\x00\x00\x00\x00\x00\x20\x0b\x00\x00\x02\x0a\x21\x00\x00\x05\x00\x00\x00\x00\xc8"
    b"\x00\x00\x38\xff\x01\x00\x08\x00\x00\x01\xdb\x0f\x01\xf1\x0d\x01\x68\x00\x80\x08"
    b"\xb8\x00\x00\x00\x00\x0f\x89\x00\x00\x00\x00\x00\x00\x00\x01\x0f\x0d\x0e\x0e\x00"
    b"\x00\x02\xc7\xff\x9b\x00\x00\x00\x01\x01\x00")
# Raw RESULT__RANGE_STATUS & 0x1F -> ULD range status (0 valid, 1 sigma fail, 2 signal fail,
# 3 below minimum range (clipped), 4 phase out of bounds, 5 hardware/VCSEL fail, 7 wrap-around,
# 255 unknown). Indexed by the raw code (0..23).
_STATUS_MAP = const(b"\xff\xff\xff\x05\x02\x04\x01\x07\x03\x00\xff\xff\x09\x0d\xff\xff\xff\xff"
                    b"\x0a\x06\xff\xff\x0b\x0c")
# Long distance mode: timing budget ms -> (TIMEOUT_MACROP_A, TIMEOUT_MACROP_B), ULD
# SetTimingBudgetInMs.
_LONG_BUDGETS = const(((20, 0x001E, 0x0022), (33, 0x0060, 0x006E), (50, 0x00AD, 0x00C6),
                       (100, 0x01CC, 0x01EA), (200, 0x02D9, 0x02F8), (500, 0x048F, 0x04A4)))


class VL53L1X:
    """VL53L1X in long distance mode.

    i2c: machine.I2C. timing_budget_ms: 20/33/50/100/200/500. inter_measurement_ms: period of
    the results (>= budget; default = budget), exposed as `period_ms`. max_mm: longest distance
    trusted (4000). ambient_blind_kcps: ambient rate (kcps, all SPADs) from which the usable
    range is the datasheet's strong-light figure, `usable_mm` 730 (1000). timeout_ms: default 3 periods + 100. roi: side of the square region of
    interest in SPADs, 4..16 (16 = the full 27 degree field of view; smaller narrows the cone and
    keeps path-edge clutter out, at the cost of signal). Raises OSError when the chip is absent,
    is not a VL53L1X, or does not boot.
    """

    def __init__(self, i2c, address=_ADDR, timing_budget_ms=50,
                 inter_measurement_ms=None, max_mm=4000, ambient_blind_kcps=1000,
                 timeout_ms=None, frozen_ms=1000, roi=16, ticks_ms=None, sleep_ms=None):
        budget = None
        for row in _LONG_BUDGETS:
            if row[0] == timing_budget_ms:
                budget = row
        if budget is None:
            raise ValueError("timing_budget_ms must be 20, 33, 50, 100, 200 or 500")
        imp = timing_budget_ms if inter_measurement_ms is None else inter_measurement_ms
        if imp < timing_budget_ms:
            raise ValueError("inter_measurement_ms must be >= timing_budget_ms")
        if not 4 <= roi <= 16:
            raise ValueError("roi must be 4..16 SPADs")
        self.roi = roi
        self.beam_half_deg = 13.5 * roi / 16  # 27 degree field of view with all 16x16 SPADs
        if ticks_ms is None or sleep_ms is None:
            import time

            ticks_ms = ticks_ms or time.ticks_ms  # type: ignore[attr-defined]
            sleep_ms = sleep_ms or time.sleep_ms  # type: ignore[attr-defined]
        self._i2c = i2c
        self.address = address
        self._ticks_ms = ticks_ms
        self._sleep_ms = sleep_ms
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self._b4 = bytearray(4)
        self._res = bytearray(_RESULT_SIZE)
        self._one = b"\x01"
        self.timing_budget_ms = timing_budget_ms
        self.period_ms = imp
        self.max_mm = max_mm
        self.ambient_blind_kcps = ambient_blind_kcps
        self.usable_mm = max_mm  # what it can see now: max_mm, or 730 in strong ambient light
        self.timeout_ms = 3 * imp + 100 if timeout_ms is None else timeout_ms
        self.frozen_ms = frozen_ms
        self._pol = 1
        try:
            model = self._read16(_REG_MODEL_ID)
        except OSError:
            raise OSError("VL53L1X: no answer at I2C address 0x%02x; check SDA/SCL, 3.3 V and XSHUT"
                          % address) from None
        if model != _MODEL_ID:
            raise OSError("VL53L1X: model id 0x%04x at 0x%02x, expected 0x%04X (another chip?)"
                          % (model, address, _MODEL_ID))
        self._budget = budget
        self._lost = False
        self.restarts = 0
        self._init(budget, imp)
        now = ticks_ms()
        self._last_ms = now
        self._raw_dist = -1
        self._raw_signal = -1
        self._raw_since = now
        self._stream = -1
        self._stream_same = 0
        self._result = wire.NO_READING
        self.fresh = False
        self.status = 255  # last ULD range status
        self.ambient_kcps = 0
        self.signal_kcps = 0

    # -- register access (set-up only; measure() inlines its reads) --------------------------
    def _read8(self, reg):
        self._i2c.readfrom_mem_into(self.address, reg, self._b1, addrsize=16)
        return self._b1[0]

    def _read16(self, reg):
        b = self._b2
        self._i2c.readfrom_mem_into(self.address, reg, b, addrsize=16)
        return (b[0] << 8) | b[1]

    def _write8(self, reg, value):
        self._b1[0] = value
        self._i2c.writeto_mem(self.address, reg, self._b1, addrsize=16)

    def _write16(self, reg, value):
        b = self._b2
        b[0] = value >> 8
        b[1] = value & 0xFF
        self._i2c.writeto_mem(self.address, reg, b, addrsize=16)

    def _write32(self, reg, value):
        b = self._b4
        for i in range(4):
            b[i] = (value >> (24 - 8 * i)) & 0xFF
        self._i2c.writeto_mem(self.address, reg, b, addrsize=16)

    def _ready(self):
        return (self._read8(_REG_GPIO_TIO_HV_STATUS) & 1) == self._pol

    def _init(self, budget, imp):
        for _ in range(_BOOT_TRIES):
            if self._read8(_REG_SYSTEM_STATUS) & 1:
                break
            self._sleep_ms(1)
        else:
            raise OSError("VL53L1X: firmware did not boot (0x00E5 bit 0 stays 0)")
        self._i2c.writeto_mem(self.address, _REG_CONFIG_START, _DEFAULT_CONFIG,
                              addrsize=16)
        self._pol = 0 if self._read8(_REG_GPIO_HV_MUX_CTRL) & 0x10 else 1
        # one ranging cycle lets the chip run its VHV calibration (ULD SensorInit)
        self._write8(_REG_MODE_START, _START_RANGING)
        for _ in range(_READY_TRIES):
            if self._ready():
                break
            self._sleep_ms(1)
        else:
            raise OSError("VL53L1X: first ranging never completed")
        self._write8(_REG_INTERRUPT_CLEAR, 1)
        self._write8(_REG_MODE_START, 0)
        self._write8(_REG_VHV_LOOP_BOUND, 0x09)
        self._write8(_REG_VHV_START, 0)
        # long distance mode (ULD SetDistanceMode(2))
        self._write8(_REG_PHASECAL_TIMEOUT, 0x0A)
        self._write8(_REG_VCSEL_PERIOD_A, 0x0F)
        self._write8(_REG_VCSEL_PERIOD_B, 0x0D)
        self._write8(_REG_VALID_PHASE_HIGH, 0xB8)
        self._write16(_REG_WOI_SD0, 0x0F0D)
        self._write16(_REG_INITIAL_PHASE_SD0, 0x0E0E)
        # region of interest: a square of roi x roi SPADs around the optical centre (ULD SetROI)
        self._write8(_REG_ROI_CENTRE, 199)
        self._write8(_REG_ROI_SIZE, ((self.roi - 1) << 4) | (self.roi - 1))
        self._write16(_REG_TIMEOUT_A, budget[1])
        self._write16(_REG_TIMEOUT_B, budget[2])
        osc = self._read16(_REG_OSC_CALIBRATE) & 0x3FF
        self._write32(_REG_INTERMEASUREMENT, osc * imp * 1075 // 1000)
        self._write8(_REG_INTERRUPT_CLEAR, 1)
        self._write8(_REG_MODE_START, _START_RANGING)

    def stop(self):
        """Stop ranging until `start()`."""
        self._write8(_REG_MODE_START, 0)

    def start(self):
        self._write8(_REG_INTERRUPT_CLEAR, 1)
        self._write8(_REG_MODE_START, _START_RANGING)
        self._last_ms = self._ticks_ms()

    # -- per reading --------------------------------------------------------------------------
    def measure(self):
        """Latest reading: mm, NO_READING or a SENSOR_* code (see the module docstring)."""
        now = self._ticks_ms()
        i2c = self._i2c
        addr = self.address
        b1 = self._b1
        res = self._res
        self.fresh = False
        if self._lost and not self._restart():
            return self._result
        try:
            i2c.readfrom_mem_into(addr, _REG_GPIO_TIO_HV_STATUS, b1, addrsize=16)
            if (b1[0] & 1) != self._pol:
                if ticks_diff(now, self._last_ms) > self.timeout_ms:
                    self._result = wire.SENSOR_TIMEOUT
                    self._restart()
                return self._result
            i2c.readfrom_mem_into(addr, _REG_RESULT, res, addrsize=16)
            i2c.writeto_mem(addr, _REG_INTERRUPT_CLEAR, self._one, addrsize=16)
        except OSError:
            self._lost = True
            self._result = wire.SENSOR_NO_ACK
            return self._result
        self.fresh = True
        self._last_ms = now
        self._result = self._convert(res, now)
        return self._result

    def _restart(self):
        """After a bus loss or a timeout: a chip that lost power (loose connector) is back at
        its defaults and not ranging; set it up again. Blocks for the set-up (boot + one
        calibration ranging, about 0.1 s) only then. False if the chip still does not answer.
        The result code stays until a new result arrives."""
        try:
            if self._read8(_REG_MODE_START) != _START_RANGING:
                self.restarts += 1
                self._init(self._budget, self.period_ms)
                self._last_ms = self._ticks_ms()
                self._raw_dist = -1
        except OSError:
            self._lost = True
            self._result = wire.SENSOR_NO_ACK
            return False
        self._lost = False
        return True

    def _convert(self, res, now):
        stream = res[_OFF_STREAM]
        if stream != self._stream:
            self._stream = stream
            self._stream_same = 0
        else:
            self._stream_same += 1
            if self._stream_same >= _STREAM_REPEATS - 1:
                return wire.SENSOR_FROZEN
        raw = res[0] & 0x1F
        status = _STATUS_MAP[raw] if raw < 24 else 255
        self.status = status
        dist = (res[_OFF_RANGE] << 8) | res[_OFF_RANGE + 1]
        signal = (res[_OFF_SIGNAL] << 8) | res[_OFF_SIGNAL + 1]
        ambient = ((res[_OFF_AMBIENT] << 8) | res[_OFF_AMBIENT + 1]) * 8  # kcps (ULD)
        self.ambient_kcps = ambient
        self.signal_kcps = signal * 8
        # Long mode on a white target: 3.6 m dark, 0.73 m in strong ambient light (datasheet
        # ranging table): beyond it, "no target" only means the sun drowned the echo.
        self.usable_mm = _SUN_RANGE_MM if ambient >= self.ambient_blind_kcps else self.max_mm
        if status == _STATUS_VALID or status == _STATUS_MIN_RANGE:
            if dist != self._raw_dist or signal != self._raw_signal:
                self._raw_dist = dist
                self._raw_signal = signal
                self._raw_since = now
            elif self.frozen_ms and ticks_diff(now, self._raw_since) > self.frozen_ms:
                return wire.SENSOR_FROZEN
            return dist if dist <= self.max_mm else wire.NO_READING
        self._raw_dist = -1
        if status == _STATUS_HW_FAIL:
            return wire.SENSOR_STUCK
        return wire.NO_READING

    def stream_count(self):
        """The chip's result counter (0..255) of the last result read."""
        return self._res[_OFF_STREAM]
