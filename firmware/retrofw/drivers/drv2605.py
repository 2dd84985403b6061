"""TI DRV2605 / DRV2605L haptic driver over I2C (address 0x5A), for an ERM or an LRA motor.

Wiring: VIN 3.3-5 V, SDA/SCL on the I2C bus, EN high (tied on most breakouts), motor on
OUT+/OUT-. The chip generates the drive itself: the ESP32 only writes registers.

Set-up (datasheet SLOS854D; section 8.6 register map): DEVICE_ID in STATUS bits 7:5 must be 3
(DRV2605) or 7 (DRV2605L), the parts with the licensed effect ROM; MODE = 0 leaves standby;
FEEDBACK_CONTROL bit 7 selects ERM (0) or LRA (1). Every register the drive depends on is
written, not left at its reset value: the chip keeps its registers across an ESP32 reboot.

Real-time playback (RTP) and its transfer ("Data Formats for Waveform Playback", CONTROL2
BIDIR_INPUT, CONTROL3 DATA_FORMAT_RTP). At reset BIDIR_INPUT = 1: mid-scale is zero drive, so
an unsigned RTP value 0..255 used as a strength would drive an ERM in reverse below 0x80 and an
LRA not at all. Here `set(strength)` (0..255, 0 = none, 255 = full scale) is monotonic:
- LRA: closed loop, unidirectional input (BIDIR_INPUT = 0, which TI gives for closed loop
  only), unsigned RTP: RTP_INPUT = strength, drive = strength/255 of RATED_VOLTAGE.
- ERM: open loop (the TS2200 libraries A..F, for play(), are open-loop data), where the
  input is always bidirectional: signed RTP 0..127 = 0..full scale of OD_CLAMP, so
  RTP_INPUT = ceil(strength * 127 / 255); negative values (reverse drive) are never written.

Motor ratings (8.5.2.1 Rated Voltage Programming, 8.5.2.2 Overdrive Voltage-Clamp
Programming; SAMPLE_TIME 300 us):
- LRA, 2.0 V rms, 170-235 Hz: V_rms = 20.58 mV * RATED_VOLTAGE / sqrt(1 - (4 * 300 us +
  300 us) * f): RATED_VOLTAGE 78 gives 2.0 V rms at 235 Hz and 1.86 V at 170 Hz (never above
  the rating); OD_CLAMP 128: V_rms = 21.32 mV * 128 * sqrt(1 - f * 800 us), about 2.5 V rms
  at 205 Hz, the overdrive bound. DRIVE_TIME 19 = 2.4 ms, half the period at ~206 Hz.
- ERM, 3.0 V: closed-loop V_avg = 21.18 mV * RATED_VOLTAGE (141: 2.99 V); open-loop full scale
  V_avg = 21.32 mV * OD_CLAMP (140: 2.98 V).
Pass rated_voltage= / od_clamp= (register codes) for another motor.

Auto-calibration (8.5.6 Auto Calibration Procedures), LRA only (the ERM runs open loop): the
inputs above are written, then MODE = 7 and GO = 1; the chip drives the motor for
AUTO_CAL_TIME (500-700 ms) and clears GO; DIAG_RESULT (STATUS bit 3) = 0 means it passed and
A_CAL_COMP, A_CAL_BEMF and BEMF_GAIN hold the result. Nothing blocks: the set-up starts it,
`update()` (called every haptics tick) finishes it when GO is clear (or gives up after 2 s),
and set() / off() / play() wait for it (a strength asked for meanwhile is played after it).
Pass `calibration=` (the 3 bytes of an earlier run) and they are written back instead;
`calibration` is the result, `calibrated_now` True when this set-up ran a passing calibration,
stored in `cal_path` if given (`save_calibration` / `load_calibration`). A failed calibration
(no motor, wrong kind) is no crash: the chip keeps its default calibration, `cal_failed` is
True and `check()` reports STATUS_CAL_FAILED; nothing is stored, so the next boot tries again.

- `set(strength)` (0..255): real-time playback, MODE = 5; 0 = `off()`.
- `off()`: RTP_INPUT = 0, GO = 0, MODE = 0 (internal trigger, idle).
- `play(effects)`: up to 8 library effect ids (1..123) into the sequencer slots 0x04..0x0B,
  then GO = 1; the chip plays them back to back by itself.
These return True when the chip acknowledged, False when the bus failed (unplugged board): the
haptics task must not die with the motor, and `ok` stays False until a write succeeds again.
After a power cycle the set-up is redone with the kept calibration (never a new one in the
middle of a run). `check()` reads STATUS: 0 fine, or the OVER_TEMP / OC_DETECT
bits (the chip shut its output), with STATUS_CAL_FAILED after a failed calibration.
"""

from retrofw.ticks import ticks_diff

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Register map (8-bit registers at I2C address 0x5A), datasheet SLOS854 section 8.6
_ADDR = const(0x5A)
_REG_STATUS = const(0x00)  # bits 7:5 DEVICE_ID, 3 DIAG_RESULT, 1 OVER_TEMP, 0 OC_DETECT
_REG_MODE = const(0x01)  # bit 7 DEV_RESET, bit 6 STANDBY, bits 2:0 mode
_REG_RTP_INPUT = const(0x02)
_REG_LIBRARY = const(0x03)  # bits 2:0: 1..5 and 7 ERM libraries A..F, 6 LRA library
_REG_WAVESEQ1 = const(0x04)  # 0x04..0x0B: 8 sequencer slots, 0 ends the sequence
_REG_GO = const(0x0C)
_REG_RATED_VOLTAGE = const(0x16)
_REG_OD_CLAMP = const(0x17)
_REG_A_CAL_COMP = const(0x18)
_REG_A_CAL_BEMF = const(0x19)
_REG_FEEDBACK = const(0x1A)  # 7 N_ERM_LRA, 6:4 FB_BRAKE_FACTOR, 3:2 LOOP_GAIN, 1:0 BEMF_GAIN
_REG_CONTROL1 = const(0x1B)  # 7 STARTUP_BOOST, 4:0 DRIVE_TIME
_REG_CONTROL2 = const(0x1C)  # 7 BIDIR_INPUT, 6 BRAKE_STABILIZER, 5:4 SAMPLE_TIME, 3:2, 1:0
_REG_CONTROL3 = const(0x1D)  # 5 ERM_OPEN_LOOP, 3 DATA_FORMAT_RTP (1 = unsigned), 0 LRA_OPEN_LOOP
_REG_CONTROL4 = const(0x1E)  # 5:4 AUTO_CAL_TIME
_ID_DRV2605 = const(3)  # DEVICE_ID values of the parts with the licensed effect library
_ID_DRV2605L = const(7)
_MODE_INTERNAL = const(0)
_MODE_RTP = const(5)
_MODE_AUTO_CAL = const(7)
_LIBRARY_LRA = const(6)
_EFFECT_MAX = const(123)
_SEQ_SLOTS = const(8)
# FEEDBACK_CONTROL: N_ERM_LRA, FB_BRAKE_FACTOR 3 (4x), LOOP_GAIN 1 (medium), BEMF_GAIN 2 (the
# reset values; calibration sets BEMF_GAIN)
_FEEDBACK_LRA = const(0xB6)
_FEEDBACK_ERM = const(0x36)
_BEMF_GAIN_MASK = const(0x03)
# CONTROL2 for the LRA: BIDIR_INPUT 0 (unidirectional), BRAKE_STABILIZER 1, SAMPLE_TIME 3
# (300 us), BLANKING_TIME 1, IDISS_TIME 1: the reset value 0xF5 without bit 7
_CONTROL2_LRA = const(0x75)
_CONTROL2_ERM = const(0xF5)  # the reset value: bidirectional, as open loop always is
_BIDIR_INPUT = const(0x80)
_ERM_OPEN_LOOP = const(0x20)
_DATA_FORMAT_RTP = const(0x08)
_LRA_OPEN_LOOP = const(0x01)
_CONTROL1_DRIVE = const(0x93)  # STARTUP_BOOST 1, DRIVE_TIME 19 (2.4 ms)
_AUTO_CAL_TIME = const(0x20)  # CONTROL4 bits 5:4 = 2: 500-700 ms
_AUTO_CAL_MASK = const(0x30)
_LRA_RATED = const(78)
_LRA_OD_CLAMP = const(128)
_ERM_RATED = const(141)
_ERM_OD_CLAMP = const(140)
_CAL_TIMEOUT_MS = const(2000)  # longest AUTO_CAL_TIME window is 1.2 s
_ERM_LIBRARIES = const((1, 2, 3, 4, 5, 7))
STATUS_OVER_TEMP = const(0x02)
STATUS_OVER_CURRENT = const(0x01)
STATUS_CAL_FAILED = const(0x08)  # the DIAG_RESULT bit: the auto-calibration failed

CAL_FILE = "/drv2605.cal"
_CAL_MAGIC = const(0xD5)
_CAL_SIZE = const(7)  # magic, rated, od_clamp, A_CAL_COMP, A_CAL_BEMF, BEMF_GAIN, check


class DRV2605:
    """DRV2605(L) on `i2c`. actuator: "erm" or "lra". library: effect library (default 1 = ERM
    library A for "erm", 6 for "lra"). calibration: (A_CAL_COMP, A_CAL_BEMF, BEMF_GAIN) kept
    from an earlier auto-calibration (LRA), None to calibrate now. cal_path: where a new
    calibration result is stored (`save_calibration`; None: not stored). rated_voltage,
    od_clamp: register codes for another motor (see the module docstring). ticks_ms: the clock
    of the calibration timeout (default time.ticks_ms). Raises OSError when the chip is absent
    or not a DRV2605."""

    def __init__(self, i2c, address=_ADDR, actuator="erm", library=None, calibration=None,
                 cal_path=None, rated_voltage=None, od_clamp=None, ticks_ms=None):
        if actuator not in ("erm", "lra"):
            raise ValueError("actuator must be 'erm' or 'lra'")
        lra = actuator == "lra"
        if library is None:
            library = _LIBRARY_LRA if lra else 1
        if lra and library != _LIBRARY_LRA:
            raise ValueError("an LRA needs library 6")
        if not lra and library not in _ERM_LIBRARIES:
            raise ValueError("ERM libraries are 1..5 and 7")
        if calibration is not None and len(calibration) != 3:
            raise ValueError("calibration is (A_CAL_COMP, A_CAL_BEMF, BEMF_GAIN)")
        self._i2c = i2c
        self.address = address
        self.actuator = actuator
        self.library = library
        self.rated_voltage = (_LRA_RATED if lra else _ERM_RATED) \
            if rated_voltage is None else rated_voltage
        self.od_clamp = (_LRA_OD_CLAMP if lra else _ERM_OD_CLAMP) if od_clamp is None else od_clamp
        if ticks_ms is None:
            import time

            ticks_ms = getattr(time, "ticks_ms", None) or (  # CPython: ms, wrapped as ticks
                lambda: int(time.time() * 1000) & 0x3FFFFFFF)
        self._ticks_ms = ticks_ms
        self.cal_path = cal_path
        self.calibration = bytes(calibration) if calibration is not None else None
        self.calibrated_now = False
        self.cal_failed = False
        self.calibrating = False
        self._cal_start = 0
        self._pending = 0  # strength asked for while calibrating
        self._lra = lra
        self._b1 = bytearray(1)
        self._seq = bytearray(_SEQ_SLOTS)
        self._mode = -1
        self.ok = True
        try:
            status = self._read(_REG_STATUS)
        except OSError:
            raise OSError("DRV2605: no answer at I2C address 0x%02x; check SDA/SCL, power and EN"
                          % address) from None
        device_id = status >> 5
        if device_id != _ID_DRV2605 and device_id != _ID_DRV2605L:
            raise OSError("DRV2605: DEVICE_ID %d at 0x%02x, expected 3 (DRV2605) or 7 (DRV2605L)"
                          % (device_id, address))
        self.device_id = device_id
        self._setup(calibrate=lra and self.calibration is None)

    def _setup(self, calibrate=False):
        """Leave standby, write the actuator's drive registers, calibrate or restore the
        calibration (LRA), select the library. Also run after the board was unplugged: a power
        cycle puts the chip back to its defaults."""
        lra = self._lra
        self._write(_REG_MODE, _MODE_INTERNAL)
        self._mode = _MODE_INTERNAL
        self._write(_REG_RTP_INPUT, 0)
        self._write(_REG_RATED_VOLTAGE, self.rated_voltage)
        self._write(_REG_OD_CLAMP, self.od_clamp)
        cal = self.calibration
        fb = _FEEDBACK_LRA if lra else _FEEDBACK_ERM
        if cal is not None:
            fb = (fb & ~_BEMF_GAIN_MASK) | (cal[2] & _BEMF_GAIN_MASK)
        self._write(_REG_FEEDBACK, fb)
        self._write(_REG_CONTROL1, _CONTROL1_DRIVE)
        self._write(_REG_CONTROL2, _CONTROL2_LRA if lra else _CONTROL2_ERM)
        c3 = self._read(_REG_CONTROL3)
        if lra:  # closed loop, unsigned RTP
            c3 = (c3 & ~_LRA_OPEN_LOOP) | _DATA_FORMAT_RTP
        else:  # open loop, signed RTP
            c3 = (c3 | _ERM_OPEN_LOOP) & ~_DATA_FORMAT_RTP
        self._write(_REG_CONTROL3, c3)
        c4 = self._read(_REG_CONTROL4)
        self._write(_REG_CONTROL4, (c4 & ~_AUTO_CAL_MASK) | _AUTO_CAL_TIME)
        if cal is not None:
            self._write(_REG_A_CAL_COMP, cal[0])
            self._write(_REG_A_CAL_BEMF, cal[1])
        self._write(_REG_LIBRARY, self.library)
        if cal is None and calibrate:
            # 8.5.6: the inputs are written; MODE = 7 and GO = 1 start it. It runs for
            # AUTO_CAL_TIME on its own: update() polls GO, nothing blocks.
            self._write(_REG_MODE, _MODE_AUTO_CAL)
            self._mode = _MODE_AUTO_CAL
            self._write(_REG_GO, 1)
            self._cal_start = self._ticks_ms()
            self.calibrating = True

    def update(self):
        """Finish an auto-calibration once the chip cleared GO (the haptics task calls this
        every tick). Returns True while the calibration still runs."""
        if not self.calibrating:
            return False
        try:
            if self._read(_REG_GO) & 1:
                if ticks_diff(self._ticks_ms(), self._cal_start) < _CAL_TIMEOUT_MS:
                    return True
                self._write(_REG_GO, 0)  # stuck: give up
                failed = True
            else:
                failed = bool(self._read(_REG_STATUS) & STATUS_CAL_FAILED)
            if not failed:
                self.calibration = bytes((self._read(_REG_A_CAL_COMP),
                                          self._read(_REG_A_CAL_BEMF),
                                          self._read(_REG_FEEDBACK) & _BEMF_GAIN_MASK))
                self.calibrated_now = True
            self.cal_failed = failed
            self.calibrating = False
            self._write(_REG_MODE, _MODE_INTERNAL)
            self._mode = _MODE_INTERNAL
        except OSError:
            self.calibrating = False
            self.cal_failed = True
            self._failed()
            return False
        if self.calibrated_now and self.cal_path is not None:
            save_calibration(self.calibration, self.cal_path, self.rated_voltage, self.od_clamp)
        pending = self._pending
        self._pending = 0
        if pending:
            self.set(pending)
        return False

    def _read(self, reg):
        self._i2c.readfrom_mem_into(self.address, reg, self._b1)
        return self._b1[0]

    def _write(self, reg, value):
        self._b1[0] = value
        self._i2c.writeto_mem(self.address, reg, self._b1)

    def _mode_to(self, mode):
        if self._mode != mode:
            self._write(_REG_MODE, mode)
            self._mode = mode

    def rtp_value(self, strength):
        """The RTP_INPUT byte for `strength` 0..255 (see the module docstring)."""
        if self._lra:
            return strength
        return (strength * 127 + 254) // 255

    def set(self, strength):
        """Vibrate at `strength` (int 0..255, 255 = full scale) from now on; 0 stops."""
        if not 0 <= strength <= 255:
            raise ValueError("strength must be 0..255")
        if strength == 0:
            return self.off()
        if self.calibrating and self.update():
            self._pending = strength  # played once the calibration is over
            return True
        try:
            if not self.ok:
                self._setup()
            if self._mode != _MODE_RTP:
                self._write(_REG_GO, 0)  # cut a sequence that may be playing
            self._mode_to(_MODE_RTP)
            self._write(_REG_RTP_INPUT, self.rtp_value(strength))
        except OSError:
            return self._failed()
        self.ok = True
        return True

    def off(self):
        """Stop any vibration now (after the calibration, if one is running)."""
        self._pending = 0
        if self.calibrating and self.update():
            return True
        try:
            if not self.ok:
                self._setup()
            self._write(_REG_RTP_INPUT, 0)
            self._write(_REG_GO, 0)
            self._mode_to(_MODE_INTERNAL)
        except OSError:
            return self._failed()
        self.ok = True
        return True

    def play(self, effects):
        """Play up to 8 library effects (ids 1..123) back to back; returns at once."""
        n = len(effects)
        if not 1 <= n <= _SEQ_SLOTS:
            raise ValueError("play() takes 1..8 effect ids")
        seq = self._seq
        for i in range(_SEQ_SLOTS):
            seq[i] = 0
        for i in range(n):
            effect = effects[i]
            if not 1 <= effect <= _EFFECT_MAX:
                raise ValueError("effect ids are 1..123")
            seq[i] = effect
        if self.calibrating and self.update():
            return True  # the chip is busy calibrating: the cue is skipped
        try:
            if not self.ok:
                self._setup()
            self._write(_REG_RTP_INPUT, 0)
            self._mode_to(_MODE_INTERNAL)
            self._i2c.writeto_mem(self.address, _REG_WAVESEQ1, seq)
            self._write(_REG_GO, 1)
        except OSError:
            return self._failed()
        self.ok = True
        return True

    def playing(self):
        """True while a sequence started by play() is still running (GO not yet self-cleared)."""
        try:
            return bool(self._read(_REG_GO) & 1)
        except OSError:
            self._failed()
            return False

    def check(self):
        """Fault bits: 0, or STATUS_OVER_TEMP | STATUS_OVER_CURRENT from STATUS, with
        STATUS_CAL_FAILED after a failed auto-calibration; -1 if no answer."""
        cal = STATUS_CAL_FAILED if self.cal_failed else 0
        try:
            return (self._read(_REG_STATUS) & (STATUS_OVER_TEMP | STATUS_OVER_CURRENT)) | cal
        except OSError:
            self._failed()
            return -1

    def _failed(self):
        self.ok = False
        self._mode = -1  # unknown after a failed transfer: rewrite it next time
        return False


def _cal_check(data):
    total = 0
    for i in range(_CAL_SIZE - 1):
        total += data[i]
    return (total ^ 0x5A) & 0xFF


def load_calibration(path=CAL_FILE, rated_voltage=_LRA_RATED, od_clamp=_LRA_OD_CLAMP):
    """The (A_CAL_COMP, A_CAL_BEMF, BEMF_GAIN) stored by `save_calibration`, or None when the
    file is missing, damaged or was made for other rated/clamp values (then calibrate again)."""
    try:
        with open(path, "rb") as f:
            data = f.read(_CAL_SIZE + 1)
    except OSError:
        return None
    if (len(data) != _CAL_SIZE or data[0] != _CAL_MAGIC or data[-1] != _cal_check(data)
            or data[1] != rated_voltage or data[2] != od_clamp):
        return None
    return bytes(data[3:6])


def save_calibration(calibration, path=CAL_FILE, rated_voltage=_LRA_RATED,
                     od_clamp=_LRA_OD_CLAMP):
    """Store a calibration result (temp file, then rename). False if the flash refused."""
    from retrofw.fsutil import replace

    data = bytearray((_CAL_MAGIC, rated_voltage, od_clamp, calibration[0], calibration[1],
                      calibration[2], 0))
    data[-1] = _cal_check(data)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        replace(tmp, path)
    except OSError:
        return False
    return True
