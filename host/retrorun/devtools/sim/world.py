"""The runner's world on virtual time: the runner's backward motion and the objects around.

Frame: x along the path, positive in the direction the runner moves (backward, where the
sensor looks); y lateral (positive left of the runner). The runner stays at y = 0; the sensor
sits at the runner's position at `sensor.height_m` above the ground.

Objects are circles (post, person, cyclist, bush), boxes (car) or infinite planes across the
path (wall, treadmill console). People and cyclists move with (vx_mps, vy_mps) from
`start_s` on (they stand still before); a negative vx comes toward the runner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

BODY_HALF_WIDTH_M = 0.25  # half the runner's width: the corridor an object must be in to hit

# Per type: (default radius m, acoustic echo factor, optical reflectivity 0..1)
OBJECT_DEFAULTS = {
    "wall": (0.0, 1.0, 0.5),
    "console": (0.0, 1.0, 0.5),
    "post": (0.04, 0.6, 0.4),
    "person": (0.25, 0.65, 0.35),
    "cyclist": (0.35, 0.7, 0.35),
    "car": (0.0, 1.0, 0.5),
    "bush": (0.5, 0.5, 0.2),
}


class Runner:
    """Open-loop runner: speed profile from segments (linear ramps), plus optional hip sway."""

    def __init__(self, spec: dict):
        self.sway_m = float(spec.get("sway_m", 0.0))
        self.sway_period_s = float(spec.get("sway_period_s", 0.36))
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


@dataclass
class Obj:
    index: int
    type: str
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

    @classmethod
    def from_spec(cls, index: int, spec: dict) -> Obj:
        radius, echo, refl = OBJECT_DEFAULTS[spec["type"]]
        return cls(index=index, type=spec["type"], x=float(spec["x_m"]),
                   y=float(spec.get("y_m", 0.0)), radius=float(spec.get("radius_m", radius)),
                   vx=float(spec.get("vx_mps", 0.0)), vy=float(spec.get("vy_mps", 0.0)),
                   start_s=float(spec.get("start_s", 0.0)),
                   length=float(spec.get("length_m", 4.5)), width=float(spec.get("width_m", 1.8)),
                   echo=float(spec.get("echo", echo)),
                   reflectivity=float(spec.get("reflectivity", refl)))

    @property
    def plane(self) -> bool:
        return self.type in ("wall", "console")

    def center(self, t: float) -> tuple[float, float]:
        dt = max(0.0, t - self.start_s)
        return self.x + self.vx * dt, self.y + self.vy * dt

    def geometry(self, t: float, xr: float, half_beam: float):
        """(range_m, in_beam, in_corridor, path_gap_m, width_m) seen from the sensor at xr.

        range_m: distance from the sensor to the nearest point of the object inside the beam
        (or to its nearest point at all when not in the beam); path_gap_m: distance along the
        path to the object's near face (what closes to contact), only meaningful in_corridor.
        """
        cx, cy = self.center(t)
        dx = cx - xr
        if self.plane:
            return dx, dx > 0, True, dx, 100.0
        if self.type == "car":
            near_y = abs(cy) - self.width / 2
            x1, x2 = cx - self.length / 2, cx + self.length / 2
            in_corr = near_y <= BODY_HALF_WIDTH_M
            lat = max(0.0, near_y)
            tan_h = math.tan(half_beam)
            xs = max(x1 - xr, lat / tan_h if tan_h > 0 else 1e9)
            in_beam = xs <= x2 - xr and xs > 0
            rng = math.hypot(xs, lat) if in_beam else math.hypot(max(x1 - xr, 0.0), lat)
            return rng, in_beam, in_corr, x1 - xr, self.width
        dist = math.hypot(dx, cy)
        rng = dist - self.radius
        in_corr = abs(cy) <= self.radius + BODY_HALF_WIDTH_M
        if dx <= 0 or dist <= self.radius:
            return max(rng, 0.0), dx > 0, in_corr, dx - self.radius, 2 * self.radius
        off = math.atan2(abs(cy), dx)
        ang = math.asin(min(1.0, self.radius / dist))
        in_beam = off - ang <= half_beam
        gap = dx - math.sqrt(max(0.0, self.radius ** 2 - cy ** 2)) if abs(cy) < self.radius \
            else dx
        return rng, in_beam, in_corr, gap, 2 * self.radius


def build_objects(specs: list[dict]) -> list[Obj]:
    return [Obj.from_spec(i, s) for i, s in enumerate(specs)]
