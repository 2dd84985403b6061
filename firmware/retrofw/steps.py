"""Streaming step counter and cadence on the acceleration magnitude (pure, injected time).

Input: one accelerometer sample at a time, `update(t_ms, ax, ay, az)`, axes in milli-g (mg)
including gravity, at the device rate given to the constructor (25-100 Hz). Any orientation:
only the magnitude |a| is used, so the way the device is clipped on does not matter, and forward
and backward gait look alike.

Pipeline, all integer arithmetic on small ints (nothing is allocated per sample):

1. |a| in mg (integer square root, Newton's method seeded with the previous value).
2. Smoothing: moving average over `_SMOOTH_MS` (impact ringing, vehicle vibration).
3. Baseline: moving average over `_BASE_MS` (gravity, slow posture changes); the detection
   signal is `smooth - baseline`, in mg.
4. Peaks: a candidate is the maximum of a run of the detection signal above a threshold: a
   fraction of the recent peak height, never below `_FLOOR_MG` while walking or `_START_MG`
   when no step came in the last `_RESUME_MS`. After `_IDLE_MS` without a candidate the recent
   peak height decays (half-life `_DECAY_HALF_MS`), so weak steps of a turn are still seen.
5. Merging: candidates closer than `_MERGE_Q8`/256 of the step interval (200-`_MERGE_MAX_MS`)
   are one step (a double bump, a pocket's swing): the larger peak wins.
6. Bouts: candidates are held back until `_CONFIRM` of them came at a walking/running rhythm
   (intervals up to `_MAX_GAP_MS`, neighbours within a factor `_RHYTHM_Q4`/16); then they all
   count at once, and every further candidate counts while the rhythm holds (interval within
   `_KEEP_LO_Q4`/16-`_KEEP_HI_Q4`/16 of the running average, peak at least `_KEEP_AMP_Q8`/256
   of the walking peaks). Off the rhythm, or after a gap, the bout must be confirmed again:
   `_CONFIRM_RESUME` candidates within `_RESUME_MS` of the last step (a turn, a stop),
   `_CONFIRM` otherwise. Isolated bumps (a fidget, a pothole, a door) never get counted.

Cadence: steps/min over the committed steps of the last `cadence_window_ms`.
"""

from array import array

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


from retrofw.ticks import ticks_add, ticks_diff

RATE_MIN_HZ = const(25)
RATE_MAX_HZ = const(104)  # config allows 25-100; an LSM6DS delivers 26, 52 or 104 Hz
MG_LIMIT = const(16000)  # inputs are clamped to +-16 g

_SMOOTH_MS = const(80)
_BASE_MS = const(1000)
_FLOOR_MG = const(40)
_START_MG = const(160)  # the floor when no step was counted in the last _RESUME_MS
_FRAC_Q8 = const(64)  # threshold = 64/256 of the recent peak height
_LOW_Q8 = const(128)  # a run above threshold ends below 128/256 of the threshold
_MIN_INTERVAL_MS = const(200)
_MERGE_Q8 = const(180)  # candidates closer than 180/256 of the step interval are one step
_MERGE_MAX_MS = const(300)
_RHYTHM_Q4 = const(40)  # to confirm a bout, neighbouring intervals within a factor 40/16
_KEEP_LO_Q4 = const(10)  # while walking, intervals of 10/16 to 32/16 of the usual one count
_KEEP_HI_Q4 = const(32)
_KEEP_AMP_Q8 = const(36)  # while walking, a step peaks at >= 36/256 of the walking peaks
_IDLE_MS = const(500)
_RESUME_MS = const(10000)
_CONFIRM_RESUME = const(3)
_DECAY_HALF_MS = const(2000)
_MAX_GAP_MS = const(1200)
_CONFIRM = const(5)
_RING = const(32)
_CADENCE_IDLE_MS = const(3000)


class StepCounter:
    """Counts steps from accelerometer samples; see the module docstring for the method.

    rate_hz: device sample rate, 25-104 (ValueError outside): the configured 25-100 Hz or what
    the IMU driver delivers for it (`imu.rate_hz`). cadence_window_ms: the sliding
    window of `cadence()`, 2000-60000 ms.
    """

    def __init__(self, rate_hz=50, cadence_window_ms=10000):
        if not (RATE_MIN_HZ <= rate_hz <= RATE_MAX_HZ):
            raise ValueError("rate_hz must be 25-104 (config steps.rate_hz: 25-100)")
        if not (2000 <= cadence_window_ms <= 60000):
            raise ValueError("cadence_window_ms must be 2000-60000")
        self.rate_hz = rate_hz
        self.cadence_window_ms = cadence_window_ms
        self._ns = max(1, (rate_hz * _SMOOTH_MS + 500) // 1000)
        self._nb = max(2, (rate_hz * _BASE_MS + 500) // 1000)
        self._smooth = array("h", bytes(2 * self._ns))
        self._base = array("h", bytes(2 * self._nb))
        # delay of the smoothing average, in ms: peak times are moved back by it
        self._delay_ms = (self._ns - 1) * 500 // rate_hz
        # a held candidate is final once no larger one can merge with it
        self._held_wait = _MERGE_MAX_MS + self._delay_ms
        # per-sample decay of the peak height when idle, Q16 (halves every _DECAY_HALF_MS)
        self._decay = 45426 * 1000 // (_DECAY_HALF_MS * rate_hz)
        self._times = array("i", bytes(4 * _RING))  # committed step times, a ring
        self._pend = array("i", bytes(4 * _CONFIRM))  # candidates waiting for a rhythm
        self.reset()

    def reset(self):
        """Forget everything (a new session)."""
        self.steps = 0
        self.last_ms = 0
        self._started = False
        self._mag = 0
        self._is = 0
        self._ib = 0
        self._sum_s = 0
        self._sum_b = 0
        self._amp = 0  # recent peak height, mg * 16
        self._above = False
        self._peak = 0
        self._peak_t = 0
        self._npend = 0
        self._walking = False
        self._last_cand = 0
        self._have_cand = False
        self._iv = 0  # last candidate interval, ms
        self._held = False  # a candidate waiting for a possible larger neighbour
        self._held_t = 0
        self._held_peak = 0
        self._merge_ms = _MIN_INTERVAL_MS
        self._need = _CONFIRM
        self._iv_avg = 0
        self._walk_amp = 0  # peak height while walking (mg * 16), does not decay
        self._nt = 0  # index of the next committed time in the ring

    def _fill(self, m):
        for i in range(self._ns):
            self._smooth[i] = m
        for i in range(self._nb):
            self._base[i] = m
        self._sum_s = m * self._ns
        self._sum_b = m * self._nb

    def update(self, t_ms, ax, ay, az):
        """Feed one sample (t_ms: ticks in ms; axes in mg). Return the steps newly counted."""
        if ax > MG_LIMIT:
            ax = MG_LIMIT
        elif ax < -MG_LIMIT:
            ax = -MG_LIMIT
        if ay > MG_LIMIT:
            ay = MG_LIMIT
        elif ay < -MG_LIMIT:
            ay = -MG_LIMIT
        if az > MG_LIMIT:
            az = MG_LIMIT
        elif az < -MG_LIMIT:
            az = -MG_LIMIT
        s = ax * ax + ay * ay + az * az
        # integer square root, seeded with the previous magnitude
        if s == 0:
            m = 0
        else:
            x = self._mag
            if x <= 0:
                x = 1000
            x = (x + s // x) >> 1  # now x >= isqrt(s)
            while True:
                y = (x + s // x) >> 1
                if y >= x:
                    break
                x = y
            m = x
        self._mag = m
        if not self._started:
            self._started = True
            self._fill(m)
        i = self._is
        self._sum_s += m - self._smooth[i]
        self._smooth[i] = m
        i += 1
        self._is = 0 if i >= self._ns else i
        i = self._ib
        self._sum_b += m - self._base[i]
        self._base[i] = m
        i += 1
        self._ib = 0 if i >= self._nb else i
        d = self._sum_s // self._ns - self._sum_b // self._nb
        got = 0
        if self._held and ticks_diff(t_ms, self._held_t) >= self._held_wait:
            got = self._finalize()
        if self._have_cand and ticks_diff(t_ms, self._last_cand) > _IDLE_MS:
            # no step for a while: let the threshold come down towards the floor
            self._amp -= (self._amp * self._decay) >> 16
        thr = (self._amp * _FRAC_Q8) >> 12
        if self.steps and ticks_diff(t_ms, self.last_ms) < _RESUME_MS:
            if thr < _FLOOR_MG:
                thr = _FLOOR_MG
        elif thr < _START_MG:
            thr = _START_MG
        if self._above:
            if d > self._peak:
                self._peak = d
                self._peak_t = t_ms
            if d < (thr * _LOW_Q8) >> 8:
                self._above = False
                return got + self._candidate(self._peak_t, self._peak)
            return got
        if d > thr:
            self._above = True
            self._peak = d
            self._peak_t = t_ms
        return got

    def _candidate(self, t, peak):
        # a run above threshold ended with its maximum `peak` at `t`
        t = ticks_add(t, -self._delay_ms)
        if self._held:
            if ticks_diff(t, self._held_t) < self._merge_ms:
                # the same step ringing (or a double bump): keep the larger peak
                if peak > self._held_peak:
                    self._held_t = t
                    self._held_peak = peak
                return 0
            got = self._finalize()
        else:
            got = 0
        self._held = True
        self._held_t = t
        self._held_peak = peak
        return got

    def _finalize(self):
        # the held candidate is a step candidate: adapt, then run the bout logic
        self._held = False
        t = self._held_t
        peak = self._held_peak
        if self._amp == 0:
            self._amp = peak << 4
        else:
            self._amp += ((peak << 4) - self._amp) >> 2
        if self._have_cand:
            iv = ticks_diff(t, self._last_cand)
        else:
            iv = _MAX_GAP_MS + 1
        self._have_cand = True
        self._last_cand = t
        if iv > _MAX_GAP_MS:
            # a new bout starts; right after a bout (a stop, a turn) fewer candidates confirm it
            self._walking = False
            self._npend = 1
            self._pend[0] = t
            self._iv = 0
            if self.steps and ticks_diff(t, self.last_ms) < _RESUME_MS:
                self._need = _CONFIRM_RESUME
            else:
                self._need = _CONFIRM
            return 0
        piv = self._iv
        self._iv = iv
        m = (iv * _MERGE_Q8) >> 8
        if m < _MIN_INTERVAL_MS:
            m = _MIN_INTERVAL_MS
        elif m > _MERGE_MAX_MS:
            m = _MERGE_MAX_MS
        self._merge_ms = m
        if self._walking:
            avg = self._iv_avg
            if (iv * 16 >= avg * _KEEP_LO_Q4 and iv * 16 <= avg * _KEEP_HI_Q4
                    and (peak << 12) >= self._walk_amp * _KEEP_AMP_Q8):
                self._iv_avg += (iv - avg) >> 2
                self._walk_amp += ((peak << 4) - self._walk_amp) >> 3
                return self._commit(t)
            # off the rhythm (a stop, a turn, the phone taken out): confirm again
            self._walking = False
            self._npend = 1
            self._pend[0] = t
            self._iv = 0
            self._need = _CONFIRM_RESUME
            return 0
        if piv and (iv * _RHYTHM_Q4 < piv * 16 or iv * 16 > piv * _RHYTHM_Q4):
            # rhythm broken: restart from the last two candidates
            self._pend[0] = self._pend[self._npend - 1]
            self._npend = 1
        self._pend[self._npend] = t
        self._npend += 1
        if self._npend < self._need:
            return 0
        self._walking = True
        self._iv_avg = iv
        self._walk_amp = self._amp
        n = self._npend
        self._npend = 0
        for k in range(n):
            self._commit(self._pend[k])
        return n

    def finish(self):
        """End of the session: decide the step still being looked at. Return steps counted."""
        got = 0
        if self._above:
            self._above = False
            got = self._candidate(self._peak_t, self._peak)
        if self._held and self._walking:
            got += self._finalize()
        return got

    def _commit(self, t):
        self._times[self._nt] = t
        self._nt = (self._nt + 1) % _RING
        self.steps += 1
        self.last_ms = t
        return 1

    def step_time(self, back):
        """Time (ms) of a committed step: back=0 is the latest, up to 31 steps back."""
        return self._times[(self._nt - 1 - back) % _RING]

    def cadence(self, now_ms):
        """Steps per minute over the last `cadence_window_ms` (0 when idle)."""
        n = self.steps
        if n < 2 or ticks_diff(now_ms, self.last_ms) > _CADENCE_IDLE_MS:
            return 0
        if n > _RING:
            n = _RING
        last = self.last_ms
        k = 1
        first = last
        while k < n:
            t = self.step_time(k)
            if ticks_diff(last, t) > self.cadence_window_ms:
                break
            first = t
            k += 1
        span = ticks_diff(last, first)
        if span <= 0:
            return 0
        return ((k - 1) * 60000 + span // 2) // span
