"""Distance sensor models: what each kind reports, reading by reading, in a scenario's world.

Each kind has datasheet figures (range, beam, update rate, noise) and a few modelled ones
(marked "assumed" in docs/scenarios.md): echo strength per object type, dropout and spurious
echo rates, the ground echo, sunlight on time-of-flight. Readings are drawn in CPython from
`random.Random(seed)`, so a scenario always gives the same readings. What a measurement sees is
`reading_at`: whole mm, or None (nothing the sensor trusts). Faults are not modelled here: on
the virtual board they are the chip models' own (an unplugged bus, a stuck echo, an
overexposed frame) and the firmware's drivers decide what to report (vboard/world.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from retrorun.devtools.sim.world import Obj, Runner


@dataclass(frozen=True)
class Kind:
    name: str
    min_m: float  # blind zone: closer objects read as min_m
    max_m: float  # longest distance the kind reports (white wall / flat target)
    half_beam_deg: float  # half the beam / field of view
    period_ms: int  # update period the app polls at
    delay_ms: int  # measurement to delivery (time of flight, filtering, frame)
    noise_mm: float  # noise sigma at 0 m
    noise_rel: float  # plus this fraction of the distance
    quant_mm: int  # output resolution
    p_dropout: float  # reading lost (NO_READING) although a target is in range
    p_spurious: float  # a random echo at a random distance
    optical: bool  # range follows reflectivity and sunlight (time of flight)
    sun_range_factor: float  # range left in full sunlight (optical kinds)
    ground_p: float  # chance per reading that a ground inside the range echoes


KINDS: dict[str, Kind] = {
    # HC-SR04: 2-400 cm, 15 deg measuring angle, >= 60 ms cycle, 0.3 cm resolution (datasheet).
    "hcsr04": Kind("hcsr04", 0.02, 4.0, 7.5, 60, 12, 3.0, 0.002, 1, 0.02, 0.002, False, 1.0,
                   0.5),
    # DFRobot A02YYUW: 3-450 cm, 1 mm resolution, ~100 ms per frame (real-time output); beam
    # assumed +-15 deg for person-size targets.
    "uart_ultrasonic": Kind("uart_ultrasonic", 0.03, 4.5, 15.0, 100, 60, 4.0, 0.003, 1, 0.02,
                            0.002, False, 1.0, 0.5),
    # ST VL53L1X, long mode: 360 cm dark / 73 cm strong ambient on a white target, 27 deg FoV;
    # 33 ms timing budget (we poll at 40 ms).
    "vl53l1x": Kind("vl53l1x", 0.04, 3.6, 13.5, 40, 20, 5.0, 0.005, 1, 0.02, 0.001, True,
                    0.2, 0.3),
    # Benewake TF-Luna: 0.2-8 m (90 % reflectivity), 0.2-2.5 m (10 %), 2 deg FoV, 100 Hz, cm
    # output, STD 0.5-2 cm. Range left in full sun assumed 50 %.
    "tfluna": Kind("tfluna", 0.2, 8.0, 1.0, 10, 5, 5.0, 0.0025, 10, 0.01, 0.001, True, 0.5,
                   0.3),
}


class SensorModel:
    """One sensor of a kind, with the scenario's overrides, mounting and light."""

    def __init__(self, spec: dict):
        base = KINDS[spec["kind"]]
        over = {k: spec[k] for k in ("max_m", "half_beam_deg", "period_ms", "delay_ms",
                                     "noise_mm", "p_dropout", "p_spurious") if k in spec}
        self.kind = Kind(**{**base.__dict__, **over})
        self.height_m = float(spec.get("height_m", 1.0))
        self.tilt_deg = float(spec.get("tilt_deg", 0.0))  # positive: pointing down
        self.sunlight = float(spec.get("sunlight", 0.0))  # 0 dark .. 1 full sun
        self.faults = sorted(spec.get("faults", []), key=lambda f: f["at_s"])
        self.half_beam = math.radians(self.kind.half_beam_deg)

    def reliable_range(self, obj: Obj, width_m: float, dist_m: float) -> float:
        """Distance within which the kind sees `obj` reliably (p >= 0.9 per reading)."""
        k = self.kind
        if k.optical:
            sun = 1.0 - (1.0 - k.sun_range_factor) * self.sunlight
            # the spot must be covered: a narrow target returns part of the light
            spot = 2 * max(dist_m, 0.1) * math.tan(self.half_beam)
            fill = min(1.0, width_m / spot) if spot > 0 else 1.0
            return k.max_m * math.sqrt(obj.reflectivity * fill / 0.9) * sun
        return k.max_m * obj.echo

    def ground_range(self) -> float | None:
        """Slant range where the lower edge of the beam meets the ground, if it does."""
        down = math.radians(self.tilt_deg) + self.half_beam
        if down <= 0:
            return None
        return self.height_m / math.sin(down)

    def detect_probability(self, rng_m: float, reliable_m: float) -> float:
        if rng_m > self.kind.max_m:
            return 0.0
        if rng_m <= reliable_m:
            return 0.97
        over = (rng_m - reliable_m) / (0.2 * reliable_m)
        return max(0.0, 0.97 * (1.0 - over))

    def fault_at(self, t: float):
        """The fault active at t: (fault dict, onset s) or None."""
        active = None
        for f in self.faults:
            if f["at_s"] <= t and t < f["at_s"] + f.get("duration_s", 1e9):
                active = f
        return active

    def readings(self, runner: Runner, objects: list[Obj], duration_s: float,
                 seed: int) -> list[tuple[int, int | None]]:
        """Measurements every `period_ms` (random phase): (t_ms, mm or None), in time order."""
        k = self.kind
        rnd = random.Random(seed)
        out: list[tuple[int, int | None]] = []
        ground = self.ground_range()
        t_ms = rnd.randrange(k.period_ms)
        end_ms = int(duration_s * 1000)
        while t_ms <= end_ms:
            out.append((t_ms, self.reading_at(t_ms / 1000.0, runner, objects, ground, rnd)))
            t_ms += k.period_ms
        return out

    def reading_at(self, t: float, runner: Runner, objects: list[Obj], ground,
                   rnd) -> int | None:
        """What one measurement at t returns (mm, or None: nothing trusted), drawing from `rnd`."""
        k = self.kind
        xr = runner.position(t)
        best = None
        for obj in objects:
            rng, in_beam, _corr, _gap, width = obj.geometry(t, xr, self.half_beam)
            if not in_beam:
                continue
            rel = self.reliable_range(obj, width, rng)
            if rnd.random() < self.detect_probability(rng, rel) and (best is None or rng < best):
                best = rng
        if ground is not None and ground <= k.max_m and rnd.random() < k.ground_p \
                and (best is None or ground < best):
            best = ground
        if rnd.random() < k.p_spurious:
            spur = rnd.uniform(max(k.min_m, 0.3), k.max_m)
            if best is None or spur < best:
                best = spur
        if best is None or rnd.random() < k.p_dropout:
            return None
        sigma = (k.noise_mm + k.noise_rel * best * 1000) * (1.0 + 2.0 * self.sunlight * k.optical)
        mm = best * 1000 + rnd.gauss(0.0, sigma)
        mm = max(mm, k.min_m * 1000)
        mm = round(mm / k.quant_mm) * k.quant_mm
        if mm > k.max_m * 1000:
            return None
        return mm
