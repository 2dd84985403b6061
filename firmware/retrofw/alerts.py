"""Alert levels from distance and time to contact, with hysteresis, modes and fault detection.

`Pipeline` is the warning pipeline the app runs: `update(now_ms, reading)` per distance
reading and `check(now_ms)` at every motor tick; both return a `wire.ALERT_*` level and
allocate nothing. Thresholds come from the config schema (`alert.*`) as constructor arguments
in metres and seconds; they are kept as integers (mm, ms) inside.

Levels (outdoor mode):
- STOP    when the distance <= stop_m, or the time to contact <= ttc_stop_s;
- WARNING when the distance <= warning_m, or the time to contact <= ttc_warning_s;
- NOTICE  when the distance <= notice_m (an object is there).
WARNING and STOP need a confirmed track (two consistent readings). From a slow sensor (>= 50 ms
between readings) the first sighting of an object beyond 0.6 x notice_m is a NOTICE at once, so
the runner feels an object entering the range without waiting for a second reading; nearer
first sightings, and all from fast sensors, wait one reading for confirmation.
A NOTICE for an object that keeps its distance (not closing) for `static_clear_ms` is dropped:
a companion running alongside, a ground echo, the same hedge all the time.

Warnings that keep their meaning:
- Lost at close range, held (outdoor and track modes): a confirmed, closing object that disappears (the track coasts out,
  or a farther object replaces it) while it is nearer than `hold_m` is held, predicted forward
  at its last closing speed, until it would have passed the runner's hip (its time to contact
  plus `_PASS_MS`, at most `_HOLD_MAX_MS`), unless a confirmed track shows it again no farther
  than where it was lost (it was a dropout, and the track says where it is). `hold_m` comes from the beam: an object whose edge
  is in the runner's corridor (`_BODY_HALF_MM` off the line) leaves a beam of half-angle a at
  `_BODY_HALF_MM / tan(a)`; anything that leaves the beam farther away misses the runner.
- Standing still near something, settled: an object keeping its distance (closing within
  +-0.3 m/s and not nearer than `_SETTLE_MM` below where it settled) for 3 s (`_SETTLE_MS`) while the
  runner is not moving settles WARNING/STOP to the NOTICE pulse (once a second: a reminder
  that it is there). Any shrinking of the distance by `_SETTLE_MM`, or closing faster, ends the
  settling at once and the level is what the thresholds say.
- Moving with the runner, background: an object keeping its distance for 1.5 s while
  the runner moves (the step counter counts a cadence: `moving`) moves with the runner: a
  ground return (the beam meeting the ground at a constant slant range, running uphill) or a
  companion at the same speed. It gives no alert while it keeps its distance; a real object in
  front of it is nearer and closing, a new track, and warns as usual. Nothing is background
  within 10 s of something closing in (the runner who walks up to a bench and stops is still
  counted as moving for a while by the step cadence).

Modes: `outdoor` (default); `track`: NOTICE only for closing objects (lanes full of runners
going the same way); `treadmill`: only the distance to the console counts: WARNING within
`treadmill_min_m + treadmill_band_m`, STOP within `treadmill_min_m`; no time to contact.

Hysteresis (no chatter): a level goes up at once; it comes down only when the condition of the
higher level has been false for `hold_ms` with its thresholds widened by `hysteresis_m` and
`ttc_hysteresis_s`.

Fault: no reading showing a working sensor (a distance or NO_READING) for more than
`fault_timeout_ms` -> FAULT ("I cannot see"), whatever the track says. It clears after
`recover_ms` of good readings.
"""

try:
    from micropython import const
except ImportError:  # CPython: const() is the identity

    def const(x):
        return x


from retrofw.ranging import TTC_NONE, Ranger
from retrofw.ticks import ticks_add, ticks_diff

MODES = ("outdoor", "track", "treadmill")
_OUTDOOR = const(0)
_TRACK = const(1)
_TREADMILL = const(2)

_CLEAR = const(0)
_NOTICE = const(1)
_WARNING = const(2)
_STOP = const(3)
_FAULT = const(4)

_STATIC_MMS = const(300)  # "keeps its distance": closing speed within +-0.3 m/s
_MIN_CLOSING_MMS = const(250)  # slower closing has no time to contact (as in ranging)
_FAST_MS = const(50)  # sensors updating faster than this confirm a sighting before a NOTICE
_BG_MM = const(200)  # a new sighting this close to a remembered static background ...
_BG_KEEP_MS = const(3000)  # ... remembered this long, is the background again: no NOTICE
_SETTLE_MM = const(150)  # a settled or background object nearer by this much escalates again
_BODY_HALF_MM = const(250)  # half the runner's width: an object this far off the line hits
_PASS_MS = const(300)  # a held object is held this long after its predicted contact
_HOLD_MAX_MS = const(4000)
_HOLD_RANGE_MAX_MM = const(3000)
_SETTLE_MS = const(3000)  # standing still: WARNING/STOP settle to the reminder after this
_BACKGROUND_MS = const(1500)  # moving: an object keeping its distance this long is background
_CLOSED_MEMORY_MS = const(10000)  # ... unless something closed in within this long


def hold_range_m(beam_half_deg):
    """Where an object on the edge of the runner's corridor leaves a beam of this half-angle."""
    import math

    far = _HOLD_RANGE_MAX_MM / 1000
    if beam_half_deg <= 0:
        return far
    return min(far, _BODY_HALF_MM / 1000 / math.tan(math.radians(beam_half_deg)))


class Pipeline:
    """Readings in, alert level out. Attributes after each call: `level`, `distance_mm`,
    `closing_mms`, `ttc_ms` (see `retrofw.ranging.Ranger`)."""

    def __init__(self, mode="outdoor", notice_m=4.0, warning_m=2.5, stop_m=1.2,
                 ttc_warning_s=2.5, ttc_stop_s=1.5, hysteresis_m=0.3, fault_timeout_ms=500,
                 treadmill_min_m=0.5, treadmill_band_m=0.2, ttc_hysteresis_s=0.5,
                 hold_ms=300, recover_ms=300, static_clear_ms=2000, max_range_m=8.0,
                 hold_m=1.9):
        if mode not in MODES:
            raise ValueError("alert.mode must be one of outdoor, track, treadmill")
        if not 0 < stop_m < warning_m < notice_m:
            raise ValueError("alert thresholds must satisfy 0 < stop_m < warning_m < notice_m")
        if not 0 < ttc_stop_s < ttc_warning_s:
            raise ValueError("alert thresholds must satisfy 0 < ttc_stop_s < ttc_warning_s")
        if fault_timeout_ms < 50:
            raise ValueError("alert.fault_timeout_ms must be >= 50")
        self.mode = MODES.index(mode)
        self.notice_mm = int(notice_m * 1000)
        self.warning_mm = int(warning_m * 1000)
        self.stop_mm = int(stop_m * 1000)
        self.ttc_warning_ms = int(ttc_warning_s * 1000)
        self.ttc_stop_ms = int(ttc_stop_s * 1000)
        self.hyst_mm = int(hysteresis_m * 1000)
        self.ttc_hyst_ms = int(ttc_hysteresis_s * 1000)
        self.fault_timeout_ms = int(fault_timeout_ms)
        self.treadmill_min_mm = int(treadmill_min_m * 1000)
        self.treadmill_band_mm = int(treadmill_band_m * 1000)
        self.hold_ms = int(hold_ms)
        self.recover_ms = int(recover_ms)
        self.static_clear_ms = int(static_clear_ms)
        self.hold_mm = int(hold_m * 1000)
        self.moving = False  # the runner moves (the app sets it from the step cadence)
        self.ranger = Ranger(max_mm=int(max_range_m * 1000))
        self.reset()

    def reset(self):
        self.ranger.reset()
        self.level = _CLEAR
        self.distance_mm = -1
        self.closing_mms = 0
        self.ttc_ms = TTC_NONE
        self._started = False
        self._start_ms = 0
        self._below_ms = 0  # since when the current level's condition has been false
        self._below = False
        self._static_ms = 0  # since when the track keeps its distance
        self._static = False
        self._static_age = 0
        self._bg_mm = -1  # distance of a static background (ground echo, hedge), -1: none
        self._bg_ms = 0
        self._good_ms = 0  # since when readings have been good again (fault recovery)
        self._good = False
        self._anchor_mm = -1  # distance where the track began keeping its distance
        self._closed_ms = None  # last time something closed in (None: not yet)
        self.settled = False  # WARNING/STOP settled to the NOTICE reminder (standing still)
        self.background = False  # keeps its distance while the runner moves: no alert
        self.held = False  # a lost close object is held (predicted forward)
        self._held_mm = 0
        self._held_mms = 0
        self._held_ms = 0
        self._held_until = 0

    def update(self, now_ms, reading):
        """One distance reading at `now_ms` (ticks ms). Returns the alert level."""
        if not self._started:
            self._started = True
            self._start_ms = now_ms
        r = self.ranger
        was = r.confirmed and r.speed_ok and r.closing_mms > _MIN_CLOSING_MMS \
            and 0 <= r.distance_mm <= self.hold_mm and self.mode != _TREADMILL
        if was:
            d0 = r.predict(now_ms)
            v0 = r.closing_mms
        r.update(now_ms, reading)
        if was and (r.distance_mm < 0 or r.distance_mm > d0 + r.gate_mm):
            # gone from the beam at close range, or behind a farther object: held
            t = d0 * 1000 // v0 + _PASS_MS
            self.held = True
            self._held_mm = d0
            self._held_mms = v0
            self._held_ms = now_ms
            self._held_until = ticks_add(now_ms, t if t < _HOLD_MAX_MS else _HOLD_MAX_MS)
        if reading < -1:
            self._good = False
        elif not self._good:
            self._good = True
            self._good_ms = now_ms
        return self._evaluate(now_ms)

    def check(self, now_ms):
        """Re-evaluate at a motor tick without a new reading (prediction, fault timeout)."""
        if not self._started:
            self._started = True
            self._start_ms = now_ms
        return self._evaluate(now_ms)

    def _sensor_blind(self, now_ms):
        seen = self.ranger.seen_ms
        if seen is None:
            return ticks_diff(now_ms, self._start_ms) > self.fault_timeout_ms
        return ticks_diff(now_ms, seen) > self.fault_timeout_ms

    def _evaluate(self, now_ms):
        r = self.ranger
        if r.distance_mm >= 0:
            d = r.predict(now_ms)
            v = r.closing_mms
            t = TTC_NONE
            if r.speed_ok and v > _MIN_CLOSING_MMS:
                t = d * 1000 // v
                if t > TTC_NONE:
                    t = TTC_NONE
        else:
            d = -1
            v = 0
            t = TTC_NONE
        confirmed = r.confirmed
        if self.held:
            if ticks_diff(now_ms, self._held_until) >= 0:
                self.held = False
            elif confirmed and d >= 0 and d <= self._held_mm + r.gate_mm:
                self.held = False  # seen again where it was lost (a dropout): the track rules
            else:
                hv = self._held_mms
                hd = self._held_mm - hv * ticks_diff(now_ms, self._held_ms) // 1000
                if hd < 0:
                    hd = 0
                if d < 0 or hd < d:  # the held object is nearer than what the sensor sees
                    d = hd
                    v = hv
                    t = d * 1000 // v
                    confirmed = True
        self.distance_mm = d
        self.closing_mms = v
        self.ttc_ms = t
        if self._sensor_blind(now_ms):
            self.level = _FAULT
            self._below = False
            self.held = False
            return _FAULT
        if self.level == _FAULT:
            if not self._good or ticks_diff(now_ms, self._good_ms) < self.recover_ms:
                return _FAULT
            self.level = _CLEAR
        # Static objects (keeping their distance) do not earn a NOTICE after a while; their
        # distance is remembered so that re-acquiring them after a dropout stays silent.
        # It starts keeping its distance when its speed is within +-0.3 m/s, and keeps it while
        # the distance stays within -150/+300 mm of where it started (the speed of a 100 Hz
        # sensor's track is too noisy to decide that reading by reading).
        if d >= 0 and ((self._static and -_SETTLE_MM <= d - self._anchor_mm <= 2 * _SETTLE_MM)
                       or (not self._static and -_STATIC_MMS <= v <= _STATIC_MMS)):
            if not self._static:
                self._static = True
                self._static_ms = now_ms
                self._anchor_mm = d
                # re-acquired after a dropout where a static object was: it keeps its age (no
                # NOTICE again, still settled), unless it is nearer by _SETTLE_MM
                if (not r.confirmed and self._bg_mm >= 0
                        and ticks_diff(now_ms, self._bg_ms) < _BG_KEEP_MS
                        and -_SETTLE_MM <= d - self._bg_mm <= _BG_MM):
                    self._static_ms = ticks_add(now_ms, -(
                        self.static_clear_ms if self.static_clear_ms > _SETTLE_MS else _SETTLE_MS))
        else:
            self._static = False
        age = ticks_diff(now_ms, self._static_ms) if self._static else 0
        self._static_age = age
        if age >= self.static_clear_ms:
            self._bg_mm = d
            self._bg_ms = now_ms
        static = self._static and self.mode != _TREADMILL
        if r.speed_ok and v > _STATIC_MMS:
            self._closed_ms = now_ms  # it approached: what stops in front of it is no background
        self.background = static and self.moving and age >= _BACKGROUND_MS and \
            (self._closed_ms is None or ticks_diff(now_ms, self._closed_ms) > _CLOSED_MEMORY_MS)
        self.settled = static and not self.moving and age >= _SETTLE_MS and \
            self._anchor_mm <= self.warning_mm
        raw = self._level_for(d, v, t, 0, 0, confirmed)
        cur = self.level
        if raw >= cur:
            self.level = raw
            self._below = False
            return raw
        # Going down: only when the widened condition of the current level is false for hold_ms.
        held = self._level_for(d, v, t, self.hyst_mm, self.ttc_hyst_ms, confirmed)
        if held >= cur:
            self._below = False
            return cur
        if not self._below:
            self._below = True
            self._below_ms = now_ms
            return cur
        if ticks_diff(now_ms, self._below_ms) < self.hold_ms:
            return cur
        self._below = False
        self.level = held
        return self.level

    def _level_for(self, d, v, t, dh, th, confirmed):
        """Level for distance d (mm, -1: nothing), closing speed v, ttc t, thresholds widened
        by dh (mm) and th (ms)."""
        if d < 0:
            return _CLEAR
        if self.mode == _TREADMILL:
            if not confirmed:
                return _CLEAR
            if d <= self.treadmill_min_mm + dh:
                return _STOP
            if d <= self.treadmill_min_mm + self.treadmill_band_mm + dh:
                return _WARNING
            return _CLEAR
        if self.background:
            return _CLEAR
        if self.settled and d <= self.warning_mm + self.hyst_mm + dh:
            return _NOTICE
        if confirmed:
            if d <= self.stop_mm + dh or t <= self.ttc_stop_ms + th:
                return _STOP
            if d <= self.warning_mm + dh or t <= self.ttc_warning_ms + th:
                return _WARNING
        if self.mode == _TRACK and v <= _STATIC_MMS:
            return _CLEAR
        if self._static_age >= self.static_clear_ms:
            return _CLEAR
        if not confirmed:
            # First sighting: felt at once from a slow sensor when it is far (an object
            # entering the range from afar: every reading counts for the lead time); a close
            # one, or any from a fast sensor, waits for the next reading, which confirms it
            # (a real object, then WARNING/STOP at once if it is near) or not (one spurious
            # echo is not worth a buzz).
            if self.ranger.interval_ms >= _FAST_MS and d * 5 >= self.notice_mm * 3:
                return _NOTICE
            return _CLEAR
        if d <= self.notice_mm + dh:
            return _NOTICE
        return _CLEAR


# -- reduced range ------------------------------------------------------------------------------
# `RangeWatch.update(now_ms, usable_mm)`: the sensor still works but sees less far than it
# should. A VL53L1X in strong ambient light sees 0.73 m instead of 3.6 m (its driver's
# `usable_mm`): "nothing behind you" then only means "nothing within 0.73 m". That is not a fault
# (near objects still warn) but the runner must know: the app logs EV_RANGE and plays the
# reduced-range cue (retrofw.haptics) when it starts (below 60 % of the sensor's range for 1 s),
# every minute while it lasts, and logs when full range is back (for 3 s). It returns the EV_RANGE
# `a` to log (1 reduced, 0 full again), 2 when only the reminder cue is due, or -1.
_REDUCED_PERCENT = const(60)  # usable below this share of the sensor's range is reduced
_ENTER_MS = const(1000)  # reduced this long before it is signalled (one bright reflection is not)
_LEAVE_MS = const(3000)  # full this long before "full again" (clouds, shade)
_REMIND_MS = const(60000)


class RangeWatch:
    def __init__(self, max_mm):
        self.min_mm = max_mm * _REDUCED_PERCENT // 100
        self.reduced = False
        self._since = None  # since when the usable range disagrees with `reduced`
        self._cue_ms = 0

    def update(self, now_ms, usable_mm):
        low = usable_mm < self.min_mm
        if low == self.reduced:
            self._since = None
            if low and ticks_diff(now_ms, self._cue_ms) >= _REMIND_MS:
                self._cue_ms = now_ms
                return 2
            return -1
        if self._since is None:
            self._since = now_ms
            return -1
        if ticks_diff(now_ms, self._since) < (_ENTER_MS if low else _LEAVE_MS):
            return -1
        self.reduced = low
        self._since = None
        if low:
            self._cue_ms = now_ms
            return 1
        return 0
