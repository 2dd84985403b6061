"""ERM (eccentric rotating mass) vibration motor driven by PWM through a transistor.

Wiring: GPIO -> gate of an N-MOSFET (AO3400) or base resistor of an NPN; motor between V+ and
the drain; a flyback diode across the motor. Build the PWM with `machine.PWM(Pin(n), freq=...)`;
20-25 kHz keeps the PWM out of the audible range.

A small ERM needs more voltage to start than to keep turning (static friction), so a low
strength from rest may not start it at all. `set()` therefore starts a stopped motor with a
short full-power *kick* (`kick_ms`, default 25 ms) and then settles to the requested strength.
The kick never blocks: it ends at the first `update()` (or `set()`/`off()`) call after
`kick_ms`; the haptics task calls `update()` every tick. Strength 1..255 maps linearly onto
duty `min_duty`..65535, where `min_duty` is the lowest duty that keeps the motor turning, so
every non-zero strength is felt.

The driver cannot sense the motor: an open or jammed motor is invisible from here.
"""

from retrofw.ticks import ticks_diff

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_FULL = const(65535)


class ERM:
    """ERM motor on `pwm` (machine.PWM). strength 0..255; `min_duty` 0..65535 (default 20000,
    about 30 %); `kick_ms` 0 disables the kick. ticks_ms: time source (default time.ticks_ms)."""

    def __init__(self, pwm, kick_ms=25, min_duty=20000, freq=None, ticks_ms=None):
        if not 0 <= min_duty < _FULL:
            raise ValueError("min_duty must be 0..65534")
        if not 0 <= kick_ms <= 200:
            raise ValueError("kick_ms must be 0..200")
        if ticks_ms is None:
            import time

            ticks_ms = time.ticks_ms  # type: ignore[attr-defined]
        self._pwm = pwm
        self._ticks_ms = ticks_ms
        self.kick_ms = kick_ms
        self.min_duty = min_duty
        self.strength = 0
        self._target = 0
        self._kicking = False
        self._kick_start = 0
        if freq is not None:
            pwm.freq(freq)
        pwm.duty_u16(0)

    def duty_for(self, strength):
        """PWM duty (0..65535) for a strength (0..255)."""
        if strength <= 0:
            return 0
        return self.min_duty + (strength * (_FULL - self.min_duty)) // 255

    def set(self, strength):
        """Vibrate at `strength` (int 0..255) from now on; 0 stops."""
        if not 0 <= strength <= 255:
            raise ValueError("strength must be 0..255")
        if strength == 0:
            self.off()
            return
        self._target = self.duty_for(strength)
        if self.strength == 0 and self.kick_ms:
            self._kicking = True
            self._kick_start = self._ticks_ms()
            self._pwm.duty_u16(_FULL)
        elif not self.update():
            self._pwm.duty_u16(self._target)
        self.strength = strength

    def update(self):
        """End the start kick once `kick_ms` have passed. Returns True while still kicking."""
        if self._kicking:
            if ticks_diff(self._ticks_ms(), self._kick_start) < self.kick_ms:
                return True
            self._kicking = False
            self._pwm.duty_u16(self._target)
        return False

    def off(self):
        """Stop the motor now."""
        self._kicking = False
        self.strength = 0
        self._target = 0
        self._pwm.duty_u16(0)
