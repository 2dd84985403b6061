"""Distance sensor models: what each kind reports, reading by reading, in a scenario's world.

Each kind has datasheet figures (range, beam, update rate, noise) and modelled ones (marked
"assumed" in docs/scenarios.md). A reading looks at every object through the beam pattern of
the kind (sim/beams.py), turned by the sensor's tilt and the runner's pelvic pitch at that
moment, sees the ground where the beam meets it (sim/ground.py), loses readings in bursts
(sim/dropouts.py), and adds spurious echoes and noise. Readings are drawn in CPython from
`random.Random(seed)`, so a scenario always gives the same readings. What a measurement sees is
`reading_at`: whole mm, or None (nothing the sensor trusts). Faults are not modelled here: on
the virtual board they are the chip models' own (an unplugged bus, a stuck echo, an
overexposed frame) and the firmware's drivers decide what to report (vboard/world.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from retrorun.devtools.sim import beams, ground
from retrorun.devtools.sim.dropouts import GilbertElliott
from retrorun.devtools.sim.world import Obj, Runner

REDUCED_RANGE_FRACTION = 0.7  # usable range below this share of the kind's range: "reduced"


@dataclass(frozen=True)
class Kind:
    name: str
    min_m: float  # blind zone: closer objects read as min_m
    max_m: float  # longest distance the kind reports (white wall / flat target)
    half_beam_deg: float  # ultrasonic: small-target half angle; optical: half field of view
    large_beam_deg: float  # ultrasonic: half angle for a large flat target (0: optical)
    period_ms: int  # update period the app polls at
    delay_ms: int  # measurement to delivery (time of flight, filtering, frame)
    noise_mm: float  # noise sigma at 0 m
    noise_rel: float  # plus this fraction of the distance
    quant_mm: int  # output resolution
    p_dropout: float  # mean share of readings lost (NO_READING) although a target is in range
    dropout_burst: float  # mean length of a run of lost readings (Gilbert-Elliott)
    p_spurious: float  # a random echo at a random distance
    optical: bool  # range follows reflectivity and sunlight (time of flight)
    sun_k: float  # optical: range in sunlight s is max_m / sqrt(1 + sun_k * sqrt(s))
    sun_noise: float  # optical: noise sigma grows by this share in full sunlight


KINDS: dict[str, Kind] = {
    # HC-SR04 (Elecfreaks sheet): 2-400 cm, "measuring angle 15 degree" (small targets +-7.5),
    # the "best in 30 degree" chart for large flat ones (+-15), >= 60 ms cycle, 3 mm.
    "hcsr04": Kind("hcsr04", 0.02, 4.0, 7.5, 15.0, 60, 12, 3.0, 0.002, 1, 0.02, 3.0, 0.002,
                   False, 0.0, 0.0),
    # DFRobot A02YYUW (SEN0311 wiki): 3-450 cm on flat objects, 1 mm, 100 ms response,
    # 60 deg detection angle (large flat targets +-30; small ones +-15 assumed).
    "uart_ultrasonic": Kind("uart_ultrasonic", 0.03, 4.5, 15.0, 30.0, 100, 60, 4.0, 0.003, 1,
                            0.02, 2.0, 0.002, False, 0.0, 0.0),
    # ST VL53L1X, long mode: 360 cm dark / 73 cm strong ambient on white (k = 23.3), 27 deg
    # full FoV at the 16x16 ROI; ranging error +-20 mm dark, +-25 mm strong ambient (UM2356 /
    # STEVAL user manual); 33 ms timing budget (we poll at 40 ms).
    "vl53l1x": Kind("vl53l1x", 0.04, 3.6, 13.5, 0.0, 40, 20, 5.0, 0.005, 1, 0.02, 2.0, 0.001,
                    True, beams.sun_k(3.6, 0.73), 0.25),
    # Benewake TF-Luna (SJ-PM-TF-Luna): 0.2-8 m (90 %), 0.2-2.5 m (10 %), 2 deg FoV, 100 Hz,
    # cm output, STD 0.5-2 cm. Range left in strong sun assumed 50 % (k = 3).
    "tfluna": Kind("tfluna", 0.2, 8.0, 1.0, 0.0, 10, 5, 5.0, 0.0025, 10, 0.01, 5.0, 0.001, True,
                   3.0, 1.0),
}
_OVERRIDES = ("max_m", "half_beam_deg", "large_beam_deg", "period_ms", "delay_ms", "noise_mm",
              "p_dropout", "dropout_burst", "p_spurious")


@dataclass
class Sight:
    """One object seen in one reading's geometry."""
    range_m: float  # to its nearest point in view (ultrasonic mirror planes: along the normal)
    reliable_m: float  # within this range the kind detects it (p >= 0.9 per reading)
    in_beam: bool
    signal: float  # optical: effective reflectivity x fill; ultrasonic: echo factor x lobe


def vl53l1x_fov_deg(roi: int) -> float:
    """Full cone of a VL53L1X through a square ROI of `roi` SPADs: 27 deg at 16 (datasheet),
    about 15 deg at 4 (ST's ROI application note), linear between (as the chip model)."""
    return 15.0 + 12.0 * (min(16, max(4, roi)) - 4) / 12


class SensorModel:
    """One sensor of a kind, with the scenario's overrides, mounting, light and surface."""

    def __init__(self, spec: dict):
        base = KINDS[spec["kind"]]
        over = {k: spec[k] for k in _OVERRIDES if k in spec}
        if "half_beam_deg" in over and "large_beam_deg" not in over and not base.optical:
            over["large_beam_deg"] = 2 * over["half_beam_deg"]
        if base.name == "vl53l1x" and "roi" in spec and "half_beam_deg" not in over:
            over["half_beam_deg"] = vl53l1x_fov_deg(int(spec["roi"])) / 2
        self.kind = Kind(**{**base.__dict__, **over})
        self.height_m = float(spec.get("height_m", 1.0))
        self.tilt_deg = float(spec.get("tilt_deg", 0.0))  # positive: pointing down
        self.sunlight = float(spec.get("sunlight", 0.0))  # 0 dark .. 1 strong ambient
        self.noise_level = float(spec.get("noise_level", 0.0))  # ultrasonic: 0 quiet .. 1 loud
        self.surface = str(spec.get("surface", "asphalt"))
        self.faults = sorted(spec.get("faults", []), key=lambda f: f["at_s"])
        self.set_half_beam_deg(self.kind.half_beam_deg)
        self.large_edge = math.radians(self.kind.large_beam_deg)
        self.dropouts = GilbertElliott(self.kind.p_dropout, self.kind.dropout_burst)
        self.last_signal = 0.0

    def set_half_beam_deg(self, deg: float) -> None:
        """The half angle of the beam (a VL53L1X's follows the ROI its driver sets)."""
        self.half_beam = math.radians(deg)

    def reset(self) -> None:
        """A new run: the dropout channel starts in its good state."""
        self.dropouts = GilbertElliott(self.kind.p_dropout, self.kind.dropout_burst)

    # -- ranges ---------------------------------------------------------------------------
    def sun_factor(self) -> float:
        return beams.sun_range_factor(self.sunlight, self.kind.sun_k) if self.kind.optical \
            else 1.0

    def optical_range(self, signal: float) -> float:
        """Reliable range of a time-of-flight kind for reflectivity x cos(incidence) x fill."""
        return self.kind.max_m * math.sqrt(max(signal, 0.0) / 0.9) * self.sun_factor()

    def noise_range_factor(self) -> float:
        """Ultrasonic in loud ambient ultrasound (wind, another ranger): the echo threshold
        rises and the range shrinks, to half at noise_level 1 (assumed)."""
        return 1.0 - 0.5 * min(1.0, self.noise_level) if not self.kind.optical else 1.0

    def usable_range_m(self) -> float:
        """Range on a large white target square-on: the kind's range, less what sunlight or
        acoustic noise take."""
        if self.kind.optical:
            return min(self.kind.max_m, self.optical_range(0.9))
        return self.kind.max_m * self.noise_range_factor()

    def reduced_range(self) -> bool:
        return self.usable_range_m() < REDUCED_RANGE_FRACTION * self.kind.max_m

    def ground_edge(self) -> float:
        return self.half_beam if self.kind.optical else self.large_edge

    def axis_elev(self, t: float, runner: Runner) -> float:
        """Elevation of the beam's axis at t (rad, up positive): tilt plus pelvic pitch."""
        return -math.radians(self.tilt_deg + runner.pitch_deg(t))

    # -- geometry -------------------------------------------------------------------------
    def look(self, obj: Obj, t: float, xr: float, elev: float, slope: float) -> Sight | None:
        """How `obj` appears to the sensor at xr with its axis at `elev`, or None (behind)."""
        f = obj.facet(t, xr)
        if f is None:
            return None
        k = self.kind
        h = self.height_m
        d = f.d
        zg = d * math.tan(slope)
        zb, zt = zg + obj.bottom, zg + obj.top
        half = self.half_beam if k.optical else self.large_edge
        fp = d * math.tan(half)  # half-size of the spot / large-target footprint at d
        if k.optical:  # what part of the spot the object covers
            seen_h = beams.overlap(h + d * math.tan(elev - half),
                                   h + d * math.tan(elev + half), zb, zt) or min(zt - zb, 2 * fp)
            seen_w = min(f.width, 2 * fp)
        else:  # the size it presents to the beam (at least a metre of the beam looked at)
            reach = max(fp, 0.5)
            zc = h + d * math.tan(elev)
            seen_h = beams.overlap(zc - reach, zc + reach, zb, zt) or min(zt - zb, 2 * reach)
            seen_w = min(f.width, 2 * reach)
        if not k.optical and f.specular and zb <= h <= zt:
            # a mirror: the echo comes back along the horizontal normal, from its foot
            theta = math.hypot(f.angle, abs(elev))
            edge = beams.acoustic_edge(seen_w * seen_h, math.radians(k.half_beam_deg),
                                       self.large_edge)
            lobe = beams.acoustic_lobe(theta, edge)
            reliable = k.max_m * obj.echo * lobe * self.noise_range_factor()
            return Sight(f.normal_d, reliable, lobe > 0, obj.echo * lobe)
        lo = math.atan2(zb - h, d)
        hi = math.atan2(zt - h, d)
        theta_v = beams.vertical_offset(elev, lo, hi)
        zp = min(max(h + d * math.tan(elev), zb), zt)  # the height looked at
        rng = math.hypot(d, zp - h)
        theta = math.hypot(f.theta_h, theta_v)
        if k.optical:
            if theta > self.half_beam:
                return Sight(rng, 0.0, False, 0.0)
            fill = min(1.0, seen_w / (2 * fp)) * min(1.0, seen_h / (2 * fp)) if fp > 0 else 1.0
            refl = obj.reflectivity * math.cos(f.angle) * math.cos(math.atan2(zp - h, d))
            if obj.type == "glass":  # the light passes through (to what stands behind)
                return Sight(rng, 0.0, True, 0.0)
            signal = refl * fill
            return Sight(rng, self.optical_range(signal), True, signal)
        edge = beams.acoustic_edge(seen_w * seen_h, math.radians(k.half_beam_deg),
                                   self.large_edge)
        lobe = beams.acoustic_lobe(theta, edge)
        reliable = k.max_m * obj.echo * lobe * self.noise_range_factor()
        return Sight(rng, reliable, lobe > 0, obj.echo * lobe)

    def sees(self, obj: Obj, t: float, runner: Runner) -> Sight | None:
        return self.look(obj, t, runner.position(t), self.axis_elev(t, runner), runner.slope)

    def sensible(self, sight: Sight | None) -> bool:
        """In the beam and within the range the kind sees it reliably."""
        return sight is not None and sight.in_beam and \
            0 < sight.range_m <= min(sight.reliable_m, self.kind.max_m)

    def detect_probability(self, rng_m: float, reliable_m: float) -> float:
        if rng_m > self.kind.max_m:
            return 0.0
        if rng_m <= reliable_m:
            return 0.97
        if reliable_m <= 0:
            return 0.0
        over = (rng_m - reliable_m) / (0.2 * reliable_m)
        return max(0.0, 0.97 * (1.0 - over))

    def fault_at(self, t: float):
        """The fault active at t: (fault dict, onset s) or None."""
        active = None
        for f in self.faults:
            if f["at_s"] <= t and t < f["at_s"] + f.get("duration_s", 1e9):
                active = f
        return active

    # -- readings -------------------------------------------------------------------------
    def readings(self, runner: Runner, objects: list[Obj], duration_s: float,
                 seed: int) -> list[tuple[int, int | None]]:
        """Measurements every `period_ms` (random phase): (t_ms, mm or None), in time order."""
        k = self.kind
        rnd = random.Random(seed)
        self.reset()
        out: list[tuple[int, int | None]] = []
        t_ms = rnd.randrange(k.period_ms)
        end_ms = int(duration_s * 1000)
        while t_ms <= end_ms:
            out.append((t_ms, self.reading_at(t_ms / 1000.0, runner, objects, rnd)))
            t_ms += k.period_ms
        return out

    def nearest_seen(self, t: float, runner: Runner, objects: list[Obj],
                     rnd) -> tuple[float, float] | None:
        """(range m, signal) of the nearest thing detected in this reading (objects, ground,
        a spurious echo), drawing from `rnd`; None when nothing is."""
        k = self.kind
        xr = runner.position(t)
        elev = self.axis_elev(t, runner)
        best: tuple[float, float] | None = None
        for obj in objects:
            s = self.look(obj, t, xr, elev, runner.slope)
            if s is None or not s.in_beam:
                continue
            if rnd.random() < self.detect_probability(s.range_m, s.reliable_m) \
                    and (best is None or s.range_m < best[0]):
                best = (s.range_m, s.signal)
        g = ground.ground_sighting(self, elev, runner.slope)
        if g is not None and rnd.random() < ground.echo_chance(self) \
                and (best is None or g[0] < best[0]):
            best = (g[0], 0.1)
        if rnd.random() < k.p_spurious * (1.0 + 20.0 * self.noise_level * (not k.optical)):
            spur = rnd.uniform(max(k.min_m, 0.3), k.max_m)
            if best is None or spur < best[0]:
                best = (spur, 0.1)
        return best

    def reading_at(self, t: float, runner: Runner, objects: list[Obj], rnd) -> int | None:
        """What one measurement at t returns (mm, or None: nothing trusted), drawing from `rnd`."""
        k = self.kind
        best = self.nearest_seen(t, runner, objects, rnd)
        lost = self.dropouts.lost(rnd)
        if best is None or lost:
            return None
        rng, self.last_signal = best
        grow = (1.0 + k.sun_noise * self.sunlight) if k.optical else \
            (1.0 + 2.0 * self.noise_level)
        sigma = (k.noise_mm + k.noise_rel * rng * 1000) * grow
        mm = rng * 1000 + rnd.gauss(0.0, sigma)
        mm = max(mm, k.min_m * 1000)
        mm = round(mm / k.quant_mm) * k.quant_mm
        if mm > k.max_m * 1000:
            return None
        return mm
