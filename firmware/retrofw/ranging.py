"""Range tracking: from raw distance readings to the nearest object's distance, closing speed
and time to contact.

Pure and allocation-free per reading: integers only (mm, mm/s, ms), time injected as ticks.
A reading is one int per the distance section of `retrofw.wire`: a distance in mm (>= 0),
`NO_READING` (the sensor works but sees nothing it trusts) or a negative `SENSOR_*` fault code.

How a reading is used:
- Validity: distances beyond `max_mm` count as "nothing seen"; fault codes are not readings.
- Tracking: one track, the nearest object. A reading inside the track's gate (its prediction
  plus what the object could have moved since) updates an alpha-beta filter whose gains follow
  the time between readings, so 10 Hz and 100 Hz sensors behave alike. A reading outside the
  gate is a *candidate*: a second reading consistent with it (a new object entering, or the old
  one gone) replaces the track; a lone outlier (spurious echo) is ignored.
- Confirmation: a track seen once is *unconfirmed*; from the second consistent reading, within
  200 ms, it is *confirmed* (from the third when the two imply closing faster than 7 m/s). Its closing speed is trusted (`speed_ok`) once the track spans
  60 ms: the slope from its first reading until 250 ms, the alpha-beta filter after. (A fast
  sensor's two readings 10 ms apart would make 2 cm of noise look like 2 m/s.) Callers may warn on
  unconfirmed tracks at low urgency only.
- Coasting: dropouts (`NO_READING`, fault codes) keep the track alive for `coast_ms`, predicted
  forward; after that the track is dropped.
"""

try:
    from micropython import const
except ImportError:  # CPython: const() is the identity

    def const(x):
        return x


from retrofw.ticks import ticks_diff

TTC_NONE = const(60000)  # time to contact (ms) reported when the object is not closing

_TAU_D_MS = const(40)  # distance filter time constant
_TAU_V_MS = const(150)  # closing-speed filter time constant
_MIN_CLOSING_MMS = const(250)  # below this closing speed there is no time to contact
_ACCEL_MMS2 = const(6000)  # relative acceleration allowed in the gate (mm/s^2)
_N_CAP = const(100)
_CONFIRM_MS = const(200)  # a first sighting or candidate older than this confirms nothing
_QUICK_MMS = const(7000)  # two readings implying a faster closing need a third to confirm
_SPEED_MS = const(60)  # a track must span this long before its closing speed is trusted
_INIT_MS = const(250)  # until this age the speed is the slope from the track's first reading


class Ranger:
    """Tracks the nearest object from distance readings.

    After each `update()`: `distance_mm` (-1 when there is no track), `closing_mms` (mm/s,
    positive when the object approaches), `ttc_ms` (`TTC_NONE` when not closing or the speed
    is not trusted yet), `confirmed` (seen consistently twice), `speed_ok` (closing speed
    trusted), `seen_ms` (time of the last reading that shows the sensor works: a distance or
    NO_READING; None before the first), `interval_ms` (time between the last two readings:
    the sensor's update period in practice).
    """

    def __init__(self, max_mm=8000, gate_mm=250, max_closing_mms=12000, coast_ms=400):
        self.max_mm = int(max_mm)
        self.gate_mm = int(gate_mm)
        self.max_closing_mms = int(max_closing_mms)
        self.coast_ms = int(coast_ms)
        self.reset()

    def reset(self):
        self.distance_mm = -1
        self.closing_mms = 0
        self.ttc_ms = TTC_NONE
        self.confirmed = False
        self.speed_ok = False
        self.seen_ms = None
        self.interval_ms = 0  # time between the last two readings of any kind
        self._last_ms = None
        self._n = 0  # consistent readings in the track (0: no track)
        self._t = 0  # time of the track's last accepted reading
        self._d = 0  # filtered distance at _t
        self._t0 = 0  # time and distance of the track's first reading
        self._d0 = 0
        self._cand_n = 0  # 1 when a candidate reading waits for confirmation
        self._cand_d = 0
        self._cand_t = 0

    def predict(self, now_ms):
        """Distance (mm) the track predicts at `now_ms`, or -1 without a track."""
        if self._n == 0:
            return -1
        dt = ticks_diff(now_ms, self._t)
        if dt < 0:
            dt = 0
        d = self._d - self.closing_mms * dt // 1000
        return d if d > 0 else 0

    def update(self, now_ms, reading):
        """Take one reading at `now_ms`; return True while a track exists."""
        if self._last_ms is not None:
            self.interval_ms = ticks_diff(now_ms, self._last_ms)
        self._last_ms = now_ms
        if reading < 0 or reading > self.max_mm:
            if reading >= -1:  # NO_READING or beyond the trusted range: the sensor works
                self.seen_ms = now_ms
            self._coast(now_ms)
            return self._n > 0
        self.seen_ms = now_ms
        dt = ticks_diff(now_ms, self._t)
        if self._n == 0 or (self._n == 1 and dt > _CONFIRM_MS):
            self._start(now_ms, reading, 0, 1)
            return True
        if dt < 1:
            dt = 1
        pred = self._d - self.closing_mms * dt // 1000
        r = reading - pred
        if self._n == 1:  # speed unknown: the object may move at any plausible speed
            gate = self.gate_mm + self.max_closing_mms * dt // 1000
        else:
            gate = self.gate_mm + _ACCEL_MMS2 * dt // 1000 * dt // 1000
        if -gate <= r <= gate:
            self._accept(now_ms, reading, dt, pred, r)
            return True
        # Outside the gate: a new object, the old one gone, or a spurious echo.
        cdt = ticks_diff(now_ms, self._cand_t)
        if self._cand_n and cdt <= _CONFIRM_MS:
            if cdt < 1:
                cdt = 1
            cgate = self.gate_mm + self.max_closing_mms * cdt // 1000
            dd = reading - self._cand_d
            if -cgate <= dd <= cgate:
                self._start(now_ms, reading, (self._cand_d - reading) * 1000 // cdt, 2)
                self._t0 = self._cand_t
                self._d0 = self._cand_d
                self._publish(now_ms)
                return True
        self._cand_n = 1
        self._cand_d = reading
        self._cand_t = now_ms
        self._coast(now_ms)
        return self._n > 0

    def _start(self, now_ms, d, closing, n):
        self._n = n
        self._t = now_ms
        self._d = d
        self._t0 = now_ms
        self._d0 = d
        self._cand_n = 0
        self.closing_mms = closing
        self.confirmed = n >= 2 and -_QUICK_MMS <= closing <= _QUICK_MMS
        self._publish(now_ms)

    def _accept(self, now_ms, z, dt, pred, r):
        age = ticks_diff(now_ms, self._t0)
        if self._n == 1:  # second reading: the speed from two points
            self.closing_mms = (self._d - z) * 1000 // dt
            self._d = z
        else:
            self._d = pred + r * dt // (dt + _TAU_D_MS)
            if age <= _INIT_MS:  # young track: the slope from its first reading
                self.closing_mms = (self._d0 - z) * 1000 // age
            else:
                self.closing_mms -= r * 1000 // (dt + _TAU_V_MS)
        if self._n < _N_CAP:
            self._n += 1
        # Two readings implying a very fast approach (a spurious echo after a real one looks
        # like that) confirm only with a third consistent reading.
        self.confirmed = self._n >= 3 or -_QUICK_MMS <= self.closing_mms <= _QUICK_MMS
        self._t = now_ms
        self._cand_n = 0
        self._publish(now_ms)

    def _coast(self, now_ms):
        if self._n == 0:
            return
        if ticks_diff(now_ms, self._t) > self.coast_ms:
            self._n = 0
            self.distance_mm = -1
            self.closing_mms = 0
            self.ttc_ms = TTC_NONE
            self.confirmed = False
            self.speed_ok = False
            return
        self._publish(now_ms)

    def _publish(self, now_ms):
        d = self.predict(now_ms)
        self.distance_mm = d
        v = self.closing_mms
        self.speed_ok = self.confirmed and ticks_diff(self._t, self._t0) >= _SPEED_MS
        if self.speed_ok and v > _MIN_CLOSING_MMS:
            t = d * 1000 // v
            self.ttc_ms = t if t < TTC_NONE else TTC_NONE
        else:
            self.ttc_ms = TTC_NONE
