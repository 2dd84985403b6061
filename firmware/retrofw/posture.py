"""Trunk posture: inclination from the low-passed gravity vector, and an optional lean cue.

Feed every accelerometer sample (mg, any orientation) to `update(ax, ay, az)`: a first-order
low-pass (time constant `tau_ms`, integer arithmetic, nothing allocated) keeps the gravity
vector and drops the step impacts. `angle_tenths()` is the angle in tenths of a degree between
that vector and the upright reference: `ref` (the gravity the sensor sees when the runner stands
upright; by default +Z) or what `calibrate()` captured while the runner stood upright. The
angle does not depend on how the device is clipped on once calibrated; it says how far the
trunk leans, not which way.

Posture cue (off unless `cue=True`, config `posture.cue`): `cue_check(t_ms)`, called a few times
a second, returns True once when the lean has stayed past `cue_deg` degrees for `cue_s`
seconds; the app then plays a gentle nudge. It re-arms when the lean drops 3 degrees below the
threshold.
"""

import math

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


from retrofw.ticks import ticks_diff

_SCALE_SHIFT = const(4)  # the filter state is mg * 16
_REARM_TENTHS = const(30)


class Posture:
    """Trunk inclination tracker; see the module docstring.

    rate_hz: sample rate (25-104). tau_ms: low-pass time constant (>= 100). ref: upright gravity
    in mg (x, y, z), not all zero. cue (bool), cue_deg (degrees, int or float, 1-90), cue_s
    (seconds, 1-600): the lean cue, config keys posture.cue, posture.cue_deg, posture.cue_s.
    """

    def __init__(self, rate_hz=50, tau_ms=1000, ref=(0, 0, 1000), cue=False, cue_deg=25,
                 cue_s=5):
        if not (25 <= rate_hz <= 104):
            raise ValueError("rate_hz must be 25-104")
        if tau_ms < 100:
            raise ValueError("tau_ms must be >= 100")
        if not (1 <= cue_deg <= 90):
            raise ValueError("cue_deg must be 1-90")
        if not (1 <= cue_s <= 600):
            raise ValueError("cue_s must be 1-600")
        self._n = max(1, tau_ms * rate_hz // 1000)
        self.cue_enabled = bool(cue)
        self.cue_tenths = int(cue_deg * 10 + 0.5)  # config gives a float (posture.cue_deg)
        self.cue_ms = int(cue_s * 1000)
        self.set_reference(ref[0], ref[1], ref[2])
        self._gx = 0
        self._gy = 0
        self._gz = 0
        self._started = False
        self._lean_since = 0
        self._leaning = False
        self._fired = False

    def set_reference(self, x, y, z):
        """The gravity vector (mg) seen when upright."""
        if x == 0 and y == 0 and z == 0:
            raise ValueError("reference vector must not be zero")
        self._rx = x
        self._ry = y
        self._rz = z

    def calibrate(self):
        """Take the current gravity estimate as upright (the runner stands straight)."""
        self.set_reference(self._gx, self._gy, self._gz)

    def update(self, ax, ay, az):
        """Feed one sample in mg. Allocates nothing."""
        if not self._started:
            self._started = True
            self._gx = ax << _SCALE_SHIFT
            self._gy = ay << _SCALE_SHIFT
            self._gz = az << _SCALE_SHIFT
            return
        n = self._n
        self._gx += ((ax << _SCALE_SHIFT) - self._gx) // n
        self._gy += ((ay << _SCALE_SHIFT) - self._gy) // n
        self._gz += ((az << _SCALE_SHIFT) - self._gz) // n

    def gravity_mg(self):
        """The low-passed gravity vector, mg (a new tuple: not for per-sample use)."""
        return (self._gx >> _SCALE_SHIFT, self._gy >> _SCALE_SHIFT, self._gz >> _SCALE_SHIFT)

    def angle_tenths(self):
        """Inclination from upright in tenths of a degree (0-1800); -1 before any sample."""
        if not self._started:
            return -1
        gx = float(self._gx)
        gy = float(self._gy)
        gz = float(self._gz)
        rx = float(self._rx)
        ry = float(self._ry)
        rz = float(self._rz)
        cx = gy * rz - gz * ry
        cy = gz * rx - gx * rz
        cz = gx * ry - gy * rx
        cross = math.sqrt(cx * cx + cy * cy + cz * cz)
        dot = gx * rx + gy * ry + gz * rz
        if cross == 0.0 and dot == 0.0:
            return -1
        return int(math.atan2(cross, dot) * 1800.0 / math.pi + 0.5)

    def angle_deg(self):
        """Inclination from upright in degrees (one decimal)."""
        a = self.angle_tenths()
        return a / 10 if a >= 0 else -1.0

    def cue_check(self, t_ms):
        """True once when the lean has stayed past cue_deg for cue_s (only if the cue is on)."""
        if not self.cue_enabled:
            return False
        a = self.angle_tenths()
        if a > self.cue_tenths:
            if not self._leaning:
                self._leaning = True
                self._lean_since = t_ms
            if not self._fired and ticks_diff(t_ms, self._lean_since) >= self.cue_ms:
                self._fired = True
                return True
            return False
        self._leaning = False
        if a < self.cue_tenths - _REARM_TENTHS:
            self._fired = False
        return False
