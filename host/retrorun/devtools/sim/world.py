"""The runner's world on virtual time: the runner's backward motion and the objects around.

Frame: x along the path, positive in the direction the runner moves (backward, where the
sensor looks); y lateral (positive left of the runner); z up from the ground under the runner's
feet. The runner stays at y = 0; the sensor sits at the runner's position at `sensor.height_m`.
The ground is a plane rising at `runner.slope_deg` ahead (uphill when positive): at a distance
d ahead it is d * tan(slope) above the runner's feet, and objects stand on it.

Objects are circles (post, person, cyclist, bush, dog), boxes (car, bench) or planes across
the path (wall, console, glass, kerb), each with a vertical extent `bottom_m`..`height_m` above
the ground it stands on. A plane may be oblique: `angle_deg` turns it about the vertical (0 is
square-on). People, cyclists and dogs move with (vx_mps, vy_mps) from `start_s` on (they stand
still before); a negative vx comes toward the runner.

The runner's pelvis pitches once per step (`pitch_deg`): the sensor clipped to it nods with it
(sim/sensors.py turns the beam with it).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

BODY_HALF_WIDTH_M = 0.25  # half the runner's width: the corridor an object must be in to hit
# Pelvic tilt in running, sagittal plane: 5.9-6.5 deg range of motion measured by an IMU at the
# pelvis (Perpina-Martinez et al. 2023, IJERPH 20(4):3631); half of it either way, one
# oscillation per step (docs/scenarios.md).
PELVIC_PITCH_DEG = 3.0
STANDING_MPS = 0.3  # below this travel speed the runner makes no steps (and no pitch)

# Per type: shape, default radius (circles) m, bottom m, top m, ultrasonic echo factor,
# optical reflectivity at 940 nm (0..1); all but the shapes are assumed (docs/scenarios.md)
OBJECT_DEFAULTS = {
    "wall": ("plane", 0.0, 0.0, 2.5, 1.0, 0.5),
    "console": ("plane", 0.0, 0.0, 1.3, 1.0, 0.5),
    "glass": ("plane", 0.0, 0.0, 2.2, 1.0, 0.0),
    "kerb": ("plane", 0.0, 0.0, 0.15, 0.7, 0.3),
    "post": ("circle", 0.04, 0.0, 3.0, 0.6, 0.4),
    "person": ("circle", 0.25, 0.0, 1.75, 0.65, 0.35),
    "cyclist": ("circle", 0.35, 0.0, 1.7, 0.7, 0.35),
    "bush": ("circle", 0.5, 0.0, 1.2, 0.5, 0.2),
    "dog": ("circle", 0.2, 0.0, 0.55, 0.5, 0.25),
    "car": ("box", 0.0, 0.0, 1.45, 1.0, 0.5),
    "bench": ("box", 0.0, 0.4, 0.85, 0.6, 0.3),
}
# planes that reflect sound like a mirror (the echo returns only along the surface normal)
SPECULAR_TYPES = ("wall", "console", "glass")
_BOX_SIZE = {"car": (4.5, 1.8), "bench": (0.5, 1.8)}  # default (length along x, width along y)


def cadence_for(speed_mps: float, given: float | None = None) -> float:
    """Steps per minute at a travel speed: `given` (the scenario's runner.cadence_spm), else
    ~150 spm slow to ~185 at 3 m/s for backward running (assumed); 0 standing."""
    speed = abs(speed_mps)
    if speed < STANDING_MPS:
        return 0.0
    return float(given) if given else min(190.0, 140.0 + 15.0 * speed)


class Runner:
    """Open-loop runner: speed profile from segments (linear ramps), optional hip sway, the
    ground's slope, and the step phase (integrated cadence) that sets the pelvic pitch."""

    def __init__(self, spec: dict):
        self.sway_m = float(spec.get("sway_m", 0.0))
        self.sway_period_s = float(spec.get("sway_period_s", 0.36))
        self.slope_deg = float(spec.get("slope_deg", 0.0))
        self.slope = math.radians(self.slope_deg)
        self.pitch_amp_deg = float(spec.get("pitch_deg", PELVIC_PITCH_DEG))
        self.cadence_given = spec.get("cadence_spm")
        t, x, v = 0.0, 0.0, float(spec.get("start_mps", 0.0))
        self._segs = []  # (t0, t1, x0, v0, a)
        for seg in spec.get("segments", []):
            dur = float(seg["duration_s"])
            v1 = float(seg.get("to_mps", v))
            a = (v1 - v) / dur
            self._segs.append((t, t + dur, x, v, a))
            x += v * dur + 0.5 * a * dur * dur
            t += dur
            v = v1
        self._end = (t, x, v)
        self._phase_t = [0.0]  # step phase table, 10 ms apart, grown on demand
        self._phase = [0.0]

    def _base(self, t: float) -> tuple[float, float]:
        for t0, t1, x0, v0, a in self._segs:
            if t < t1:
                dt = t - t0
                return x0 + v0 * dt + 0.5 * a * dt * dt, v0 + a * dt
        t0, x0, v0 = self._end
        return x0 + v0 * (t - t0), v0

    def position(self, t: float) -> float:
        x, _ = self._base(t)
        if self.sway_m:
            x += self.sway_m * math.sin(2 * math.pi * t / self.sway_period_s)
        return x

    def travel_speed(self, t: float) -> float:
        """The speed of the profile alone (no hip sway): what sets the gait."""
        return self._base(t)[1]

    def speed(self, t: float) -> float:
        _, v = self._base(t)
        if self.sway_m:
            w = 2 * math.pi / self.sway_period_s
            v += self.sway_m * w * math.cos(w * t)
        return v

    def standing(self, t: float) -> bool:
        return abs(self.travel_speed(t)) < 0.05

    def cadence_spm(self, t: float) -> float:
        return cadence_for(self.travel_speed(t), self.cadence_given)

    def step_phase(self, t: float) -> float:
        """Steps taken by t (fractional), the cadence integrated in 10 ms steps."""
        dt = 0.01
        while self._phase_t[-1] < t:
            t0 = self._phase_t[-1]
            self._phase.append(self._phase[-1] + self.cadence_spm(t0) / 60.0 * dt)
            self._phase_t.append(t0 + dt)
        i = max(0, min(len(self._phase_t) - 1, bisect.bisect_right(self._phase_t, t) - 1))
        return self._phase[i] + (t - self._phase_t[i]) * self.cadence_spm(t) / 60.0

    def pitch_deg(self, t: float) -> float:
        """Pelvic pitch at t (deg, positive: the sensor nods down), one oscillation per step;
        0 while standing."""
        if not self.pitch_amp_deg or self.cadence_spm(t) <= 0:
            return 0.0
        return self.pitch_amp_deg * math.sin(2 * math.pi * self.step_phase(t))

    def ground_z(self, d: float) -> float:
        """Height of the ground d metres ahead, relative to the runner's feet."""
        return d * math.tan(self.slope)


@dataclass
class Facet:
    """What of an object faces the sensor at one moment (horizontal geometry).

    d: horizontal distance to the nearest point; theta_h: horizontal angle off the sensor's axis
    of the object's point nearest the axis (rad); width: lateral size across the beam (m);
    specular: a smooth plane whose echo returns only along its normal (`normal_d`: the
    perpendicular distance, `angle`: the normal's angle off the path, rad)."""
    d: float
    theta_h: float
    width: float
    specular: bool = False
    normal_d: float = 0.0
    angle: float = 0.0


@dataclass
class Obj:
    index: int
    type: str
    shape: str
    x: float
    y: float
    radius: float
    vx: float
    vy: float
    start_s: float
    length: float
    width: float
    echo: float
    reflectivity: float
    bottom: float
    top: float
    angle_deg: float = 0.0

    @classmethod
    def from_spec(cls, index: int, spec: dict) -> Obj:
        kind = spec["type"]
        shape, radius, bottom, top, echo, refl = OBJECT_DEFAULTS[kind]
        length, width = _BOX_SIZE.get(kind, (4.5, 1.8))
        return cls(index=index, type=kind, shape=shape, x=float(spec["x_m"]),
                   y=float(spec.get("y_m", 0.0)), radius=float(spec.get("radius_m", radius)),
                   vx=float(spec.get("vx_mps", 0.0)), vy=float(spec.get("vy_mps", 0.0)),
                   start_s=float(spec.get("start_s", 0.0)),
                   length=float(spec.get("length_m", length)),
                   width=float(spec.get("width_m", width)),
                   echo=float(spec.get("echo", echo)),
                   reflectivity=float(spec.get("reflectivity", refl)),
                   bottom=float(spec.get("bottom_m", bottom)),
                   top=float(spec.get("height_m", top)),
                   angle_deg=float(spec.get("angle_deg", 0.0)))

    @property
    def plane(self) -> bool:
        return self.shape == "plane"

    @property
    def specular(self) -> bool:
        return self.type in SPECULAR_TYPES

    def center(self, t: float) -> tuple[float, float]:
        dt = max(0.0, t - self.start_s)
        return self.x + self.vx * dt, self.y + self.vy * dt

    def facet(self, t: float, xr: float) -> Facet | None:
        """The horizontal geometry seen from the sensor at xr, or None when behind it."""
        cx, cy = self.center(t)
        dx = cx - xr
        if self.shape == "plane":
            a = math.radians(self.angle_deg)
            if dx <= 0:
                return None
            return Facet(d=dx, theta_h=0.0, width=100.0, specular=self.specular,
                         normal_d=dx * math.cos(a), angle=abs(a))
        if self.shape == "box":
            x1 = cx - self.length / 2 - xr
            if x1 <= 0:
                return None
            y1, y2 = cy - self.width / 2, cy + self.width / 2
            lat = 0.0 if y1 <= 0 <= y2 else min(abs(y1), abs(y2))
            return Facet(d=math.hypot(x1, lat), theta_h=math.atan2(lat, x1), width=self.width)
        dist = math.hypot(dx, cy)
        if dx <= 0 or dist <= self.radius:
            return None
        off = math.atan2(abs(cy), dx) - math.asin(min(1.0, self.radius / dist))
        return Facet(d=dist - self.radius, theta_h=max(0.0, off), width=2 * self.radius)

    def corridor(self, t: float, xr: float) -> tuple[bool, float]:
        """(in the runner's corridor: it would hit, path gap m: how far along the path its near
        face is from the runner; meaningful in the corridor)."""
        cx, cy = self.center(t)
        dx = cx - xr
        if self.shape == "plane":
            return True, dx - BODY_HALF_WIDTH_M * abs(math.tan(math.radians(self.angle_deg)))
        if self.shape == "box":
            near_y = abs(cy) - self.width / 2
            return near_y <= BODY_HALF_WIDTH_M, cx - self.length / 2 - xr
        in_corr = abs(cy) <= self.radius + BODY_HALF_WIDTH_M
        gap = dx - math.sqrt(max(0.0, self.radius ** 2 - cy ** 2)) if abs(cy) < self.radius \
            else dx
        return in_corr, gap

    def size_along_path(self) -> float:
        """How far the runner may overlap the object before it counts as passed (m)."""
        if self.shape == "box":
            return self.length
        if self.shape == "plane":
            return 1.0
        return 2 * self.radius + 0.5


def build_objects(specs: list[dict]) -> list[Obj]:
    return [Obj.from_spec(i, s) for i, s in enumerate(specs)]
