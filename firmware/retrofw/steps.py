"""Streaming step counter and cadence on the acceleration magnitude (pure, injected time).

Input: one accelerometer sample at a time, `update(t_ms, ax, ay, az)`, axes in milli-g (mg)
including gravity, at the device rate given to the constructor (25-100 Hz). Any orientation:
only the magnitude |a| is used, so the way the device is clipped on does not matter, and forward
and backward gait look alike.

Pipeline, all integer arithmetic on small ints (nothing is allocated per sample). Every
decision is meant to come out the same when time runs backward (backward gait is close to
forward gait reversed); `retrorun steps eval --reverse` measures how close it comes.

1. |a| in mg (integer square root, Newton's method seeded with the previous value).
2. Smoothing: moving average over `_SMOOTH_MS` (impact ringing, vehicle vibration), and
   baseline: moving average over `_BASE_MS` (gravity, slow posture changes), both of odd
   length and centred on the same sample (a ring of the last `_BASE_MS` of magnitudes); the
   detection signal is `smooth - baseline`, in mg, half a baseline late. The samples before
   the first are taken as equal to it, and at `finish()` those after the last as equal to it.
3. Peaks: a candidate is the maximum of a run of the detection signal above a threshold: a
   fraction of the recent peak height, never below `_FLOOR_MG`. After `_IDLE_MS` without a
   candidate the recent peak height decays (half-life `_DECAY_HALF_MS`), so weak steps of a
   turn are still seen.
4. Merging: candidates closer than `_MERGE_Q8`/256 of the step interval (200-`_MERGE_MAX_MS`)
   are one step (a double bump, a pocket's swing): the larger peak wins.
5. Bouts: from rest, candidates are held back (up to `_LEAD`) until `_CONFIRM` in a row peak
   at `_START_MG` or more at a walking/running rhythm (intervals up to `_MAX_GAP_MS`,
   neighbours within a factor `_RHYTHM_Q4`/16); then they count at once, with the weaker ones
   that led up to them at their rhythm and height (the first, tentative steps), and every
   further candidate counts while the rhythm holds (interval within
   `_KEEP_LO_Q4`/16-`_KEEP_HI_Q4`/16 of the running average, peak at least `_KEEP_AMP_Q8`/256
   of the walking peaks). Off the rhythm, or after a gap, the bout must be confirmed again:
   `_CONFIRM_RESUME` candidates within `_RESUME_MS` of the last step (a turn, a stop),
   `_CONFIRM` otherwise. The mirror image: a weak bout (`_CONFIRM_RESUME` regular candidates)
   that ends within `_RESUME_MS` before a bout from rest counts with it. Isolated bumps (a
   fidget, a pothole, a door) never get counted.

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
_START_MG = const(160)  # from rest, a bout starts with _CONFIRM candidates peaking this high
_FRAC_Q8 = const(64)  # threshold = 64/256 of the recent peak height
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
_LEAD = const(12)  # candidates held back before a bout from rest (weak lead-in steps + _CONFIRM)
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
        # both averages centred on the same sample (odd lengths), so that d does not depend
        # on the direction of time
        self._ns = (rate_hz * _SMOOTH_MS // 1000) // 2 * 2 + 1
        self._nb = (rate_hz * _BASE_MS // 1000) // 2 * 2 + 1
        self._base = array("h", bytes(2 * self._nb))  # the last _nb magnitudes, a ring
        # delay of the smoothing average, in ms: peak times are moved back by it
        self._delay_ms = (self._nb - 1) * 500 // rate_hz
        self._idle_wait = _IDLE_MS + self._delay_ms
        # ages (0 = newest) of the magnitudes entering and leaving the smoothing window
        self._age_in = (self._nb - self._ns) // 2
        self._age_out = self._age_in + self._ns
        # a held candidate is final once no larger one can merge with it
        self._held_wait = _MERGE_MAX_MS + self._delay_ms
        # per-sample decay of the peak height when idle, Q16 (halves every _DECAY_HALF_MS)
        self._decay = 45426 * 1000 // (_DECAY_HALF_MS * rate_hz)
        self._times = array("i", bytes(4 * _RING))  # committed step times, a ring
        self._pend = array("i", bytes(4 * _LEAD))  # candidates waiting for a rhythm
        self._pend_pk = array("i", bytes(4 * _LEAD))  # their peak heights, mg
        self._tent = array("i", bytes(4 * _LEAD))  # weak bouts waiting for a bout to follow
        self.reset()

    def reset(self):
        """Forget everything (a new session)."""
        self.steps = 0
        self.last_ms = 0
        self._started = False
        self._mag = 0
        self._ib = 0  # the oldest magnitude, overwritten next
        self._t = 0
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
        self._nstrong = 0  # held-back candidates at the end of the queue peaking >= _START_MG
        self._ntent = 0  # candidates of weak bouts kept aside (self._tent)
        self._iv_avg = 0
        self._walk_amp = 0  # peak height while walking (mg * 16), does not decay
        self._nt = 0  # index of the next committed time in the ring

    def _fill(self, m):
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
        self._t = t_ms
        base = self._base
        i = self._ib
        self._sum_b += m - base[i]
        base[i] = m
        # (negative indices count from the end of the ring)
        self._sum_s += base[i - self._age_in] - base[i - self._age_out]
        i += 1
        self._ib = 0 if i >= self._nb else i
        d = self._sum_s // self._ns - self._sum_b // self._nb
        got = 0
        if self._held and ticks_diff(t_ms, self._held_t) >= self._held_wait:
            got = self._finalize()
        if self._have_cand and ticks_diff(t_ms, self._last_cand) > self._idle_wait:
            # no step for a while: let the threshold come down towards the floor
            self._amp -= (self._amp * self._decay) >> 16
        thr = (self._amp * _FRAC_Q8) >> 12
        if thr < _FLOOR_MG:
            thr = _FLOOR_MG
        if self._above:
            if d > self._peak:
                self._peak = d
                self._peak_t = t_ms
            if d < thr:
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
            self._restart(t, peak)
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
            self._npend = 0
            self._restart(t, peak)
            self._need = _CONFIRM_RESUME
            return 0
        if piv and (iv * _RHYTHM_Q4 < piv * 16 or iv * 16 > piv * _RHYTHM_Q4):
            # rhythm broken: restart from the last two candidates
            self._npend -= 1
            self._restart(self._pend[self._npend], self._pend_pk[self._npend])
        if self._npend >= _LEAD:
            # the queue is full: the oldest held-back candidate is dropped
            for k in range(1, _LEAD):
                self._pend[k - 1] = self._pend[k]
                self._pend_pk[k - 1] = self._pend_pk[k]
            self._npend = _LEAD - 1
        self._pend[self._npend] = t
        self._pend_pk[self._npend] = peak
        self._npend += 1
        if peak >= _START_MG:
            self._nstrong += 1
        else:
            self._nstrong = 0
        if self._need == _CONFIRM:
            # from rest, a bout starts with _CONFIRM strong candidates; the weak ones that led
            # up to them at the same rhythm, and the weak bouts just before, count with them
            if self._nstrong < _CONFIRM:
                return 0
            first = self._lead_in()
            got = self._commit_tentative(self._pend[first])
        elif self._npend < self._need:
            return 0
        else:
            got = 0
            first = 0
        self._walking = True
        self._iv_avg = iv
        self._walk_amp = self._amp
        n = self._npend
        self._npend = 0
        self._ntent = 0
        for k in range(first, n):
            self._commit(self._pend[k])
        return got + n - first

    def _lead_in(self):
        # index of the first held-back candidate that counts: going back from the strong ones,
        # a weak one counts while it keeps their rhythm and height (the rules that keep a
        # walk going, the other way in time)
        n = self._npend
        k = n - _CONFIRM
        avg = ticks_diff(self._pend[n - 1], self._pend[k]) // (_CONFIRM - 1)
        total = 0
        for j in range(k, n):
            total += self._pend_pk[j]
        level = total // _CONFIRM
        while k > 0:
            iv = ticks_diff(self._pend[k], self._pend[k - 1])
            if not (iv * 16 >= avg * _KEEP_LO_Q4 and iv * 16 <= avg * _KEEP_HI_Q4
                    and (self._pend_pk[k - 1] << 8) >= level * _FRAC_Q8):
                break
            k -= 1
        return k

    def _restart(self, t, peak):
        # the held-back queue restarts at candidate t; a queue that was a weak bout (a rhythm
        # of _CONFIRM_RESUME candidates) is kept aside: it counts if a bout follows soon
        n = self._npend
        if self._need == _CONFIRM and n >= _CONFIRM_RESUME:
            for k in range(n):
                if self._ntent >= _LEAD:
                    for j in range(1, _LEAD):
                        self._tent[j - 1] = self._tent[j]
                    self._ntent = _LEAD - 1
                self._tent[self._ntent] = self._pend[k]
                self._ntent += 1
        self._npend = 1
        self._pend[0] = t
        self._pend_pk[0] = peak
        self._nstrong = 1 if peak >= _START_MG else 0
        self._iv = 0

    def _commit_tentative(self, first):
        # the weak bouts that ended within _RESUME_MS before `first` (and those chained to them
        # by gaps under _RESUME_MS): the mirror image of a bout resumed after a stop
        k = self._ntent
        later = first
        while k > 0 and ticks_diff(later, self._tent[k - 1]) < _RESUME_MS:
            k -= 1
            later = self._tent[k]
        n = self._ntent
        for j in range(k, n):
            self._commit(self._tent[j])
        self._ntent = 0
        return n - k

    def finish(self):
        """End of the session: decide the step still being looked at. Return steps counted."""
        got = self._flush(self._t) if self._started else 0
        if self._above:
            self._above = False
            got += self._candidate(self._peak_t, self._peak)
        if self._held and self._walking:
            got += self._finalize()
        return got

    def _flush(self, last):
        # the samples after the last one (at `last`) are taken as equal to it (as those before
        # the first were), until the centred averages have passed the last real sample
        c = self._mag * 577 // 1000  # |(c, c, c)| is the last magnitude (within 0.1 %)
        got = 0
        for k in range(1, self._nb // 2 + 1):
            got += self.update(ticks_add(last, k * 1000 // self.rate_hz), c, c, c)
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
