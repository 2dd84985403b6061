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

from retrofw import wire

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_N_ERM_LRA = const(0x80)
_DATA_FORMAT_RTP = const(0x08)
_ERM_LIBRARIES = (1, 2, 3, 4, 5, 7)
STATUS_OVER_TEMP = const(0x02)
STATUS_OVER_CURRENT = const(0x01)


class DRV2605:
    """DRV2605(L) on `i2c`. actuator: "erm" or "lra". library: effect library (default 1 = ERM
    library A for "erm", 6 for "lra"). Raises OSError when the chip is absent or not a DRV2605."""

    def __init__(self, i2c, address=wire.DRV_ADDR, actuator="erm", library=None):
        if actuator not in ("erm", "lra"):
            raise ValueError("actuator must be 'erm' or 'lra'")
        lra = actuator == "lra"
        if library is None:
            library = wire.DRV_LIBRARY_LRA if lra else 1
        if lra and library != wire.DRV_LIBRARY_LRA:
            raise ValueError("an LRA needs library 6")
        if not lra and library not in _ERM_LIBRARIES:
            raise ValueError("ERM libraries are 1..5 and 7")
        self._i2c = i2c
        self.address = address
        self.actuator = actuator
        self.library = library
        self._b1 = bytearray(1)
        self._seq = bytearray(wire.DRV_SEQ_SLOTS)
        self._mode = -1
        self.ok = True
        try:
            status = self._read(wire.DRV_REG_STATUS)
        except OSError:
            raise OSError("DRV2605: no answer at I2C address 0x%02x; check SDA/SCL, power and EN"
                          % address) from None
        device_id = status >> 5
        if device_id not in wire.DRV_IDS:
            raise OSError("DRV2605: DEVICE_ID %d at 0x%02x, expected 3 (DRV2605) or 7 (DRV2605L)"
                          % (device_id, address))
        self.device_id = device_id
        self._setup()

    def _setup(self):
        """Leave standby, pick the actuator and library, unsigned RTP. Also run after the
        board was unplugged: a power cycle puts the chip back to its defaults."""
        self._write(wire.DRV_REG_MODE, wire.DRV_MODE_INTERNAL)
        fb = self._read(wire.DRV_REG_FEEDBACK)
        lra = self.actuator == "lra"
        self._write(wire.DRV_REG_FEEDBACK, (fb | _N_ERM_LRA) if lra else (fb & ~_N_ERM_LRA))
        self._write(wire.DRV_REG_LIBRARY, self.library)
        c3 = self._read(wire.DRV_REG_CONTROL3)
        self._write(wire.DRV_REG_CONTROL3, c3 | _DATA_FORMAT_RTP)
        self._write(wire.DRV_REG_RTP_INPUT, 0)
        self._mode = wire.DRV_MODE_INTERNAL

    def _read(self, reg):
        self._i2c.readfrom_mem_into(self.address, reg, self._b1)
        return self._b1[0]

    def _write(self, reg, value):
        self._b1[0] = value
        self._i2c.writeto_mem(self.address, reg, self._b1)

    def _mode_to(self, mode):
        if self._mode != mode:
            self._write(wire.DRV_REG_MODE, mode)
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
            if self._mode != wire.DRV_MODE_RTP:
                self._write(wire.DRV_REG_GO, 0)  # cut a sequence that may be playing
            self._mode_to(wire.DRV_MODE_RTP)
            self._write(wire.DRV_REG_RTP_INPUT, strength)
        except OSError:
            return self._failed()
        self.ok = True
        return True

    def off(self):
        """Stop any vibration now."""
        try:
            if not self.ok:
                self._setup()
            self._write(wire.DRV_REG_RTP_INPUT, 0)
            self._write(wire.DRV_REG_GO, 0)
            self._mode_to(wire.DRV_MODE_INTERNAL)
        except OSError:
            return self._failed()
        self.ok = True
        return True

    def play(self, effects):
        """Play up to 8 library effects (ids 1..123) back to back; returns at once."""
        n = len(effects)
        if not 1 <= n <= wire.DRV_SEQ_SLOTS:
            raise ValueError("play() takes 1..8 effect ids")
        seq = self._seq
        for i in range(wire.DRV_SEQ_SLOTS):
            seq[i] = 0
        for i in range(n):
            effect = effects[i]
            if not 1 <= effect <= wire.DRV_EFFECT_MAX:
                raise ValueError("effect ids are 1..123")
            seq[i] = effect
        try:
            if not self.ok:
                self._setup()
            self._write(wire.DRV_REG_RTP_INPUT, 0)
            self._mode_to(wire.DRV_MODE_INTERNAL)
            self._i2c.writeto_mem(self.address, wire.DRV_REG_WAVESEQ1, seq)
            self._write(wire.DRV_REG_GO, 1)
        except OSError:
            return self._failed()
        self.ok = True
        return True

    def playing(self):
        """True while a sequence started by play() is still running (GO not yet self-cleared)."""
        try:
            return bool(self._read(wire.DRV_REG_GO) & 1)
        except OSError:
            self._failed()
            return False

    def check(self):
        """STATUS fault bits: 0, or STATUS_OVER_TEMP | STATUS_OVER_CURRENT; -1 if no answer."""
        try:
            return self._read(wire.DRV_REG_STATUS) & (STATUS_OVER_TEMP | STATUS_OVER_CURRENT)
        except OSError:
            self._failed()
            return -1

    def _failed(self):
        self.ok = False
        self._mode = -1  # unknown after a failed transfer: rewrite it next time
        return False
