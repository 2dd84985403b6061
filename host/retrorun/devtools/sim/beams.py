"""Beam patterns: how far off its axis a sensor sees a target, and how far away.

Ultrasonic (HC-SR04, A02YYUW): one lobe, the same horizontally and vertically (round
transducers). The edge of the lobe depends on the target's size: a target presenting
`SMALL_AREA_M2` or less to the beam is seen within the kind's small-target half angle, one
presenting `LARGE_AREA_M2` (the HC-SR04 sellers' "smooth surface of 0.5 square metres or more")
or more within its large-target half angle, log-interpolated between. Inside the edge the echo
weakens away from the axis: the detection range falls as a Gaussian main lobe,
R(theta) = R0 * exp(-ln 2 * (theta / edge)^2), to half of R0 at the edge; nothing beyond it.

Time of flight (VL53L1X, TF-Luna): a cone of the field of view's half angle, sharp; what part
of the spot a target covers (the fill) and the cosine of the incidence set how much light comes
back: reliable range = R0 * sqrt(reflectivity * cos(incidence) * fill / 0.9) (signal falls
with the square of distance; R0 is the datasheet range on a ~90 % white target). Ambient light
(sunlight) costs range as shot noise does: R0 / sqrt(1 + k * sqrt(sunlight)), with k from the
datasheet's dark and strong-ambient ranges (VL53L1X: 360 -> 73 cm, k = 23.3).

Figures and sources: docs/scenarios.md, "Beam patterns".
"""

from __future__ import annotations

import math

SMALL_AREA_M2 = 0.05  # assumed: a 0.1 m pole over half a metre of the beam
LARGE_AREA_M2 = 0.5  # HC-SR04 sellers' sheets: smooth surface >= 0.5 m^2 for best results
LN2 = math.log(2.0)


def acoustic_edge(area_m2: float, small_rad: float, large_rad: float) -> float:
    """Half angle (rad) within which an ultrasonic ranger sees a target of `area_m2`."""
    if area_m2 <= SMALL_AREA_M2:
        return small_rad
    if area_m2 >= LARGE_AREA_M2:
        return large_rad
    f = math.log(area_m2 / SMALL_AREA_M2) / math.log(LARGE_AREA_M2 / SMALL_AREA_M2)
    return small_rad + (large_rad - small_rad) * f


def acoustic_lobe(theta: float, edge: float) -> float:
    """Fraction of the on-axis detection range left at `theta` off the axis (0 beyond edge)."""
    if theta > edge or edge <= 0:
        return 0.0
    return math.exp(-LN2 * (theta / edge) ** 2)


def sun_range_factor(sunlight: float, k: float) -> float:
    """Fraction of the dark range left at `sunlight` (0 dark .. 1 the datasheet's strong
    ambient), shot-noise limited: 1 / sqrt(1 + k * sqrt(sunlight))."""
    if sunlight <= 0:
        return 1.0
    return 1.0 / math.sqrt(1.0 + k * math.sqrt(min(sunlight, 4.0)))


def sun_k(dark_m: float, strong_m: float) -> float:
    """The k of `sun_range_factor` that turns the dark range into the strong-ambient one."""
    return (dark_m / strong_m) ** 2 - 1.0


def vertical_offset(elev: float, lo: float, hi: float) -> float:
    """Angle (rad) from the beam axis at elevation `elev` to the span [lo, hi] (0 inside)."""
    if lo <= elev <= hi:
        return 0.0
    return min(abs(elev - lo), abs(elev - hi))


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))
