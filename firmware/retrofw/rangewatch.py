"""Reduced range: the sensor still works but sees less far than it should.

A VL53L1X in strong ambient light sees 0.73 m instead of 3.6 m (its driver's `usable_mm`):
"nothing behind you" then only means "nothing within 0.73 m". That is not a fault (near objects
still warn) but the runner must know: the app logs EV_RANGE and plays the reduced-range cue
(retrofw.haptics) when it starts, every `REMIND_MS` while it lasts, and logs when full range is
back. `RangeWatch.update(now_ms, usable_mm)` is allocation-free and returns what to do.
"""

try:
    from micropython import const
except ImportError:  # CPython: const() is the identity

    def const(x):
        return x


from retrofw.ticks import ticks_diff

NOTHING = const(0)
REDUCED = const(1)  # it began: log EV_RANGE a=1 and play the cue
FULL = const(2)  # full range again: log EV_RANGE a=0
REMIND = const(3)  # still reduced: play the cue again

_REDUCED_PERCENT = const(60)  # usable below this share of the sensor's range is reduced
_ENTER_MS = const(1000)  # reduced this long before it is signalled (one bright reflection is not)
_LEAVE_MS = const(3000)  # full this long before "full again" (clouds, shade)
REMIND_MS = const(60000)


class RangeWatch:
    def __init__(self, max_mm):
        self.limit_mm = max_mm * _REDUCED_PERCENT // 100
        self.reduced = False
        self.usable_mm = max_mm
        self._since = None  # since when the usable range disagrees with `reduced`
        self._cue_ms = 0

    def update(self, now_ms, usable_mm):
        self.usable_mm = usable_mm
        low = usable_mm < self.limit_mm
        if low == self.reduced:
            self._since = None
            if low and ticks_diff(now_ms, self._cue_ms) >= REMIND_MS:
                self._cue_ms = now_ms
                return REMIND
            return NOTHING
        if self._since is None:
            self._since = now_ms
            return NOTHING
        if ticks_diff(now_ms, self._since) < (_ENTER_MS if low else _LEAVE_MS):
            return NOTHING
        self.reduced = low
        self._since = None
        if low:
            self._cue_ms = now_ms
            return REDUCED
        return FULL
