"""Haptic patterns as data, and a pure pattern player.

A pattern is a `bytes` of steps, two bytes per step: duration in units of 10 ms, then motor
strength 0..255 (0: off). Urgency is carried by rhythm, not only strength:

- CLEAR:       one soft tick when an alert ends (one-shot): "all clear".
- NOTICE:      one short pulse per second (1 Hz): "something is there".
- WARNING:     pulses at 4 Hz: "closing in".
- STOP:        continuous full strength: cannot be mistaken for any rhythm.
- FAULT:       long-short-short ("dah-di-di") every 1.5 s: "I cannot see".
- LOW_BATTERY: three slow 300 ms pulses, once (the app repeats it now and then).
- POSTURE:     a gentle double tap, once.
- REDUCED:     two long soft pulses, once (repeated now and then while it lasts): "I see less
               far than I should" (sunlight on a time-of-flight sensor): not FAULT's rhythm.

`PatternPlayer.drive(now_ms, percent) -> strength` is called at the app's motor tick (it is
`update(now_ms)` scaled by the `haptic.strength` setting, except that STOP and FAULT always
play at their full strength: no setting may mute them); the app maps a strength to the haptic
driver's `set(strength)` or `off()`. Alert patterns (the level) start
at their first "on" step the moment the level changes, so the motor answers at the next tick.
One-shot cues (low battery, posture) play only while the level is CLEAR or NOTICE, and an
alert at WARNING or above cuts them off at once.
"""

try:
    from micropython import const
except ImportError:  # CPython: const() is the identity

    def const(x):
        return x


from retrofw import api, wire
from retrofw.ticks import ticks_add, ticks_diff

# Pattern ids: 0..4 are the alert levels of retrofw.wire (ALERT_CLEAR..ALERT_FAULT).
PATTERN_CLEAR = const(0)
PATTERN_NOTICE = const(1)
PATTERN_WARNING = const(2)
PATTERN_STOP = const(3)
PATTERN_FAULT = const(4)
PATTERN_LOW_BATTERY = const(5)
PATTERN_POSTURE = const(6)
PATTERN_REDUCED = const(7)
PATTERN_NAMES = ("clear", "notice", "warning", "stop", "fault", "low_battery", "posture",
                 "reduced_range")

UNIT_MS = const(10)  # duration unit of a step

# (steps, repeats) per pattern id; steps: duration/10 ms, strength, ...
PATTERNS = (
    (bytes((4, 110)), False),  # clear: 40 ms soft tick
    (bytes((8, 170, 92, 0)), True),  # notice: 80 ms on, 920 ms off
    (bytes((12, 220, 13, 0)), True),  # warning: 120 ms on, 130 ms off (4 Hz)
    (bytes((100, 255)), True),  # stop: continuous
    (bytes((40, 210, 10, 0, 10, 210, 10, 0, 10, 210, 70, 0)), True),  # fault: dah-di-di
    (bytes((30, 150, 30, 0, 30, 150, 30, 0, 30, 150)), False),  # low battery
    (bytes((6, 130, 12, 0, 6, 130)), False),  # posture: double tap
    (bytes((50, 140, 25, 0, 50, 140)), False),  # reduced range: two 500 ms soft pulses
)

_NONE = const(-1)
_CUE_MAX_LEVEL = const(1)  # cues play at CLEAR and NOTICE only


class PatternPlayer:
    """Plays the pattern of the current alert level, and one-shot cues over CLEAR/NOTICE."""

    def __init__(self):
        self.level = 0
        self.strength = 0
        self._pat = _NONE  # pattern playing
        self._step = 0  # byte index of its current step
        self._last = 0  # ticks of the last start/update
        self._left = 0  # ms left in the current step
        self._cue = _NONE  # cue waiting or playing

    def set_level(self, level, now_ms):
        """Follow the alert level (wire.ALERT_*); restarts the pattern only on a change."""
        if level == self.level:
            return
        prev = self.level
        self.level = level
        if level > _CUE_MAX_LEVEL:
            self._cue = _NONE
        if level == 0:
            # Coming down from WARNING/STOP/FAULT: one "all clear" tick; from NOTICE: silence.
            self._start(PATTERN_CLEAR if prev >= 2 else _NONE, now_ms)
        else:
            self._start(level, now_ms)

    def cue(self, pattern, now_ms):
        """Play a one-shot cue (PATTERN_LOW_BATTERY, PATTERN_POSTURE) if the level allows."""
        if self.level > _CUE_MAX_LEVEL:
            return False
        self._cue = pattern
        self._start(pattern, now_ms)
        return True

    def _start(self, pattern, now_ms):
        self._pat = pattern
        self._step = 0
        if pattern == _NONE:
            self.strength = 0
            return
        steps = PATTERNS[pattern][0]
        self._last = now_ms
        self._left = steps[0] * UNIT_MS
        self.strength = steps[1]

    def update(self, now_ms):
        """Advance to `now_ms`; return the motor strength 0..255 to apply now."""
        pat = self._pat
        if pat == _NONE:
            return 0
        steps, repeats = PATTERNS[pat]
        n = len(steps)
        dt = ticks_diff(now_ms, self._last)
        if dt > 0:
            self._last = now_ms
            self._left -= dt
        while self._left <= 0:
            i = self._step + 2
            if i >= n:
                if not repeats:
                    self._finish(now_ms)
                    return self.strength
                i = 0
            self._step = i
            self._left += steps[i] * UNIT_MS
            self.strength = steps[i + 1]
        return self.strength

    def drive(self, now_ms, percent):
        """update(now_ms) scaled by percent (haptic.strength), but STOP and FAULT unscaled."""
        strength = self.update(now_ms)
        if self._pat == PATTERN_STOP or self._pat == PATTERN_FAULT:
            return strength
        return strength * percent // 100

    def _finish(self, now_ms):
        """A one-shot ended: back to the level's own pattern (NOTICE resumes), or silence."""
        self._cue = _NONE
        if self._pat != PATTERN_CLEAR and self.level > 0:
            self._start(self.level, now_ms)
            self.update(now_ms)
        else:
            self._pat = _NONE
            self.strength = 0


def pattern_steps(pattern):
    """[(duration_ms, strength), ...] of a pattern (for docs and tests; allocates)."""
    steps = PATTERNS[pattern][0]
    return [(steps[i] * UNIT_MS, steps[i + 1]) for i in range(0, len(steps), 2)]


# -- the motor's output -------------------------------------------------------------------------
# `MotorOut.drive(now_ms, strength)` is the haptics task's I/O: it sends a new strength to the
# haptic driver (`set()` / `off()`), and again at every tick while the driver's last write failed
# (a DRV2605L that stopped answering: NACK, SDA held low, a power glitch; its driver sets the
# chip up again when it answers). Once a second it reads the driver's own fault status
# (`check()`: DRV2605L over-temperature or over-current shuts its output; -1 when it does not
# answer). While the motor cannot buzz the status LED plays the FAULT rhythm (as at a boot
# without a motor driver: retrofw.failsafe) and `retrorun status` says why: the device cannot
# warn, and silence must not pass for "nothing behind you". Allocation-free.
_CHECK_MS = const(1000)
_GAP_MS = const(300)
_SHUT = const(0x03)  # DRV2605L STATUS: OVER_TEMP | OC_DETECT (datasheet 8.6, STATUS register)
_CAL_FAILED = const(0x08)  # retrofw.drivers.drv2605.STATUS_CAL_FAILED


class MotorOut:
    def __init__(self, motor, led, led_on):
        self.motor = motor
        self.led = led
        self.led_on = led_on
        self.lost = False  # the motor cannot buzz: the LED plays FAULT
        self._last = -1
        self._bad = 0  # 1: the last write failed; 2: check() says it is shut down or silent
        self._status = 0  # the last check()
        self._since = 0
        self._check = getattr(motor, "check", None)
        self._update = getattr(motor, "update", None)
        self._led_fault = PatternPlayer()
        self._led_from = None  # when the LED's FAULT rhythm starts, after a dark gap
        api.live["motor"] = "ok"

    def drive(self, now, strength):
        motor = self.motor
        bad = self._bad
        if strength != self._last or bad == 1:
            ok = motor.set(strength) if strength else motor.off()
            # the ERM's PWM returns nothing: it never fails
            bad = 1 if ok is False else (2 if bad == 2 else 0)
            self._last = strength
        if self._update is not None:
            self._update()
        if self._check is not None and ticks_diff(now, self._since) >= _CHECK_MS:
            self._since = now
            status = self._status = self._check()
            if bad != 1:
                bad = 2 if status < 0 or status & _SHUT else 0
            self._bad = bad
            api.live["motor"] = self.state()
        self._bad = bad
        lost = bad != 0
        if lost != self.lost:
            self.lost = lost
            if lost:  # a dark gap first (the LED may be on: recording), then FAULT from "dah"
                self._led_fault.set_level(wire.ALERT_CLEAR, now)
                self._led_from = ticks_add(now, _GAP_MS)
            api.live["motor"] = self.state()
        if lost:
            on = False
            if self._led_from is not None and ticks_diff(now, self._led_from) >= 0:
                self._led_fault.set_level(wire.ALERT_FAULT, now)
                self._led_from = None
            if self._led_from is None:
                on = self._led_fault.update(now) > 0
            self.led.value(self.led_on if on else 1 - self.led_on)

    def state(self):
        if self._bad == 1:
            return "no answer"
        if self._bad == 2:
            return "shut down (over-temperature or over-current) or no answer"
        if self._status > 0 and self._status & _CAL_FAILED:
            return "ok (calibration failed: default calibration)"
        return "ok"
