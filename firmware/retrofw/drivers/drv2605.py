"""TI DRV2605 / DRV2605L haptic driver over I2C (address 0x5A), for an ERM or an LRA motor.

Wiring: VIN 3.3-5 V, SDA/SCL on the I2C bus, EN high (tied on most breakouts), motor on
OUT+/OUT-. The chip generates the drive itself: the ESP32 only writes registers.

Set-up (datasheet register map, SLOS854): DEVICE_ID in STATUS bits 7:5 must be 3 (DRV2605) or
7 (DRV2605L), the parts with the licensed effect ROM; MODE = 0 leaves standby; FEEDBACK_CONTROL
bit 7 selects ERM (0) or LRA (1); LIBRARY_SEL picks the effect library: 1..5 and 7 are the
ERM libraries A..F, 6 is the LRA library; CONTROL3 bit 3 makes real-time playback (RTP) input
unsigned (0..255).

- `set(strength)` (0..255): real-time playback, MODE = 5 and RTP_INPUT = strength; 0 = `off()`.
- `off()`: RTP_INPUT = 0, GO = 0, MODE = 0 (internal trigger, idle).
- `play(effects)`: up to 8 library effect ids (1..123) into the sequencer slots 0x04..0x0B,
  then GO = 1; the chip plays them back to back by itself.
These return True when the chip acknowledged, False when the bus failed (unplugged board): the
haptics task must not die with the motor, and `ok` stays False until a write succeeds again.
`check()` reads STATUS: 0 fine, or the OVER_TEMP / OC_DETECT bits (the chip shut its output).

LRA note: closed-loop LRA drive works best after the chip's auto-calibration (MODE = 7 with
RATED_VOLTAGE / OD_CLAMP set for the motor); this driver keeps the chip defaults.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Register map (8-bit registers at I2C address 0x5A), datasheet SLOS854 section 8.6
_ADDR = const(0x5A)
_REG_STATUS = const(0x00)  # bits 7:5 DEVICE_ID (3 DRV2605, 7 DRV2605L), 1 OVER_TEMP, 0 OC
_REG_MODE = const(0x01)  # bit 7 DEV_RESET, bit 6 STANDBY, bits 2:0 mode
_REG_RTP_INPUT = const(0x02)
_REG_LIBRARY = const(0x03)  # bits 2:0: 1..5 and 7 ERM libraries A..F, 6 LRA library
_REG_WAVESEQ1 = const(0x04)  # 0x04..0x0B: 8 sequencer slots, 0 ends the sequence
_REG_GO = const(0x0C)
_REG_FEEDBACK = const(0x1A)  # bit 7 N_ERM_LRA: 1 = LRA
_REG_CONTROL3 = const(0x1D)  # bit 5 ERM_OPEN_LOOP, bit 3 DATA_FORMAT_RTP (1 = unsigned)
_ID_DRV2605 = const(3)  # DEVICE_ID values of the parts with the licensed effect library
_ID_DRV2605L = const(7)
_MODE_INTERNAL = const(0)
_MODE_RTP = const(5)
_LIBRARY_LRA = const(6)
_EFFECT_MAX = const(123)
_SEQ_SLOTS = const(8)
_N_ERM_LRA = const(0x80)
_DATA_FORMAT_RTP = const(0x08)
_ERM_LIBRARIES = const((1, 2, 3, 4, 5, 7))
STATUS_OVER_TEMP = const(0x02)
STATUS_OVER_CURRENT = const(0x01)


class DRV2605:
    """DRV2605(L) on `i2c`. actuator: "erm" or "lra". library: effect library (default 1 = ERM
    library A for "erm", 6 for "lra"). Raises OSError when the chip is absent or not a DRV2605."""

    def __init__(self, i2c, address=_ADDR, actuator="erm", library=None):
        if actuator not in ("erm", "lra"):
            raise ValueError("actuator must be 'erm' or 'lra'")
        lra = actuator == "lra"
        if library is None:
            library = _LIBRARY_LRA if lra else 1
        if lra and library != _LIBRARY_LRA:
            raise ValueError("an LRA needs library 6")
        if not lra and library not in _ERM_LIBRARIES:
            raise ValueError("ERM libraries are 1..5 and 7")
        self._i2c = i2c
        self.address = address
        self.actuator = actuator
        self.library = library
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
        self._setup()

    def _setup(self):
        """Leave standby, pick the actuator and library, unsigned RTP. Also run after the
        board was unplugged: a power cycle puts the chip back to its defaults."""
        self._write(_REG_MODE, _MODE_INTERNAL)
        fb = self._read(_REG_FEEDBACK)
        lra = self.actuator == "lra"
        self._write(_REG_FEEDBACK, (fb | _N_ERM_LRA) if lra else (fb & ~_N_ERM_LRA))
        self._write(_REG_LIBRARY, self.library)
        c3 = self._read(_REG_CONTROL3)
        self._write(_REG_CONTROL3, c3 | _DATA_FORMAT_RTP)
        self._write(_REG_RTP_INPUT, 0)
        self._mode = _MODE_INTERNAL

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

    def set(self, strength):
        """Vibrate at `strength` (int 0..255) from now on (real-time playback); 0 stops."""
        if not 0 <= strength <= 255:
            raise ValueError("strength must be 0..255")
        if strength == 0:
            return self.off()
        try:
            if not self.ok:
                self._setup()
            if self._mode != _MODE_RTP:
                self._write(_REG_GO, 0)  # cut a sequence that may be playing
            self._mode_to(_MODE_RTP)
            self._write(_REG_RTP_INPUT, strength)
        except OSError:
            return self._failed()
        self.ok = True
        return True

    def off(self):
        """Stop any vibration now."""
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
        """STATUS fault bits: 0, or STATUS_OVER_TEMP | STATUS_OVER_CURRENT; -1 if no answer."""
        try:
            return self._read(_REG_STATUS) & (STATUS_OVER_TEMP | STATUS_OVER_CURRENT)
        except OSError:
            self._failed()
            return -1

    def _failed(self):
        self.ok = False
        self._mode = -1  # unknown after a failed transfer: rewrite it next time
        return False
