"""The ground as a target: where the beam's lower part meets it, and whether it echoes.

The ground is a plane at the runner's feet rising at the runner's slope ahead. A ray leaving
the sensor (height h) at elevation eps (negative: down) meets it at horizontal distance
x = h / (tan(slope) - tan(eps)) when tan(slope) > tan(eps), at a grazing angle
beta = slope - eps. Rays are scanned down from the beam's axis to its lower edge straight
below it; the nearest ground point the kind detects is the ground's echo.

Per surface (all assumed, docs/scenarios.md "Ground"): an ultrasonic backscatter factor at
15 deg grazing, rising as sqrt(sin beta) up to it and capped there (rough ground scatters more
sound back the steeper the beam meets it, never more than a square-on wall); an optical
reflectivity at 940 nm, returned as rho * sin(beta) (Lambertian, cosine of the incidence) over
half the spot; and the chance that a detectable ground echo is reported in a given reading
(rough-surface fading for sound, nearly steady for light).
"""

from __future__ import annotations

import math

from retrorun.devtools.sim import beams

# surface: (ultrasonic echo factor at 15 deg grazing, optical reflectivity,
#           chance per reading: ultrasonic, optical)
SURFACES = {
    "asphalt": (0.8, 0.12, 0.5, 0.9),
    "track": (0.7, 0.25, 0.5, 0.9),
    "gravel": (1.0, 0.25, 0.6, 0.9),
    "grass": (0.4, 0.45, 0.3, 0.9),
}
_REF_GRAZING = math.radians(15.0)
_SCAN_STEP = math.radians(0.5)
GROUND_FILL = 0.5  # share of the spot on the ground where the lower edge meets it (assumed)


def ray_hit(h: float, eps: float, slope: float) -> tuple[float, float] | None:
    """(slant range m, grazing angle rad) where a ray at elevation eps meets the ground."""
    denom = math.tan(slope) - math.tan(eps)
    if denom <= 1e-6:
        return None
    x = h / denom
    return x / math.cos(eps), slope - eps


def acoustic_echo(surface: str, grazing: float) -> float:
    e15 = SURFACES[surface][0]
    if grazing <= 0:
        return 0.0
    return e15 * min(1.0, math.sqrt(math.sin(grazing) / math.sin(_REF_GRAZING)))


def ground_sighting(sensor, elev: float, slope: float) -> tuple[float, float] | None:
    """(range m, reliable range m there) of the nearest ground point `sensor` (a SensorModel)
    detects with its axis at elevation `elev` (rad) on ground rising at `slope` (rad), or
    None. Only rays whose ground point lies within the reliable range count."""
    k = sensor.kind
    surface = sensor.surface
    edge = sensor.ground_edge()
    theta = 0.0
    best = None
    while theta <= edge + 1e-9:
        hit = ray_hit(sensor.height_m, elev - theta, slope)
        if hit is not None:
            rng, grazing = hit
            if k.optical:
                rho = SURFACES[surface][1] * math.sin(grazing) * GROUND_FILL
                reliable = sensor.optical_range(rho)
            else:
                reliable = k.max_m * acoustic_echo(surface, grazing) \
                    * beams.acoustic_lobe(theta, edge) * sensor.noise_range_factor()
            if rng <= min(reliable, k.max_m) and (best is None or rng < best[0]):
                best = (rng, reliable)
        theta += _SCAN_STEP
    return best


def echo_chance(sensor) -> float:
    """Chance per reading that a detectable ground point is reported."""
    p = SURFACES[sensor.surface]
    return p[3] if sensor.kind.optical else p[2]
