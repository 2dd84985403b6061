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


from retrofw.ticks import ticks_diff

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
