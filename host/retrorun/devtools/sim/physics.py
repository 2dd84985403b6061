"""The stopping physics the obstacle metrics hold the device to.

A STOP is in time when, at the moment the runner feels it, the gap to the object is at least
the stopping distance at the closing speed v then: v * 0.6 s (0.2 s device, 0.4 s human
reaction) + v^2 / (2 * 3 m/s^2) (a backward runner braking) -- `retrofw.settings.stopping_mm`,
the formula the settings' floors come from (docs/config.md). A scenario is within physics when
there is a moment at which the sensor sees the object reliably and the gap is at least that
distance: a STOP then would stop the runner in time.
"""

from __future__ import annotations

from retrofw.settings import stopping_mm

SMOOTH_MS = 250  # closing speeds are averaged over +-250 ms (the hip sway is not closing)
ENTER_WINDOW_MS = 400  # entering: sensible in at least half of the next 400 ms (a step)


def stop_distance_m(v_mps: float) -> float:
    """Distance from feeling STOP to standing still at closing speed v (m)."""
    v = max(0.0, v_mps)
    return stopping_mm(int(v * 1000)) / 1000.0


def path_closing(gaps: list[float], dt_ms: int) -> list[float]:
    """Closing speed along the path (m/s, positive: the gap shrinks) at every sample, from the
    gap over +-SMOOTH_MS."""
    k = max(1, SMOOTH_MS // dt_ms)
    n = len(gaps)
    out = []
    for j in range(n):
        a, b = max(0, j - k), min(n - 1, j + k)
        out.append(0.0 if b == a else -(gaps[b] - gaps[a]) * 1000 / ((b - a) * dt_ms))
    return out


def entering(sensible: list[bool], dt_ms: int, until: int | None = None) -> int | None:
    """Index of the first sample from which the object is sensible in at least half of the
    next ENTER_WINDOW_MS (a lucky nod of the beam is not seeing it), or None."""
    n = len(sensible) if until is None else min(len(sensible), until + 1)
    w = max(1, ENTER_WINDOW_MS // dt_ms)
    count = sum(sensible[:w])
    for j in range(n):
        if sensible[j] and 2 * count >= min(w, len(sensible) - j):
            return j
        count -= sensible[j]
        if j + w < len(sensible):
            count += sensible[j + w]
    return None


def in_time(gap_m: float, v_mps: float) -> bool:
    return gap_m >= stop_distance_m(v_mps)


def physics_ok(gaps: list[float], closing: list[float], enter: int | None,
               contact: int) -> bool:
    """Whether some moment from entering the reliable range to contact leaves the stopping
    distance."""
    if enter is None:
        return False
    return any(in_time(gaps[j], closing[j]) for j in range(enter, contact + 1))
