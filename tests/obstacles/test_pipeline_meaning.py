"""Warnings that keep their meaning (issue 14, point 5), on the pipeline itself.

The expected times come from the geometry of each situation worked out here (beam half-angle,
the runner's half width, speeds), not from the pipeline's constants: a post that leaves the beam
is still there until the hip reaches it; a wall the runner stands in front of is not news after
a few seconds, but stepping toward it is; the ground seen at a constant slant range while
running is not an obstacle, and a person in front of it is.
"""

import math

from retrofw import wire
from retrofw.alerts import Pipeline, hold_range_m

CLEAR, NOTICE, WARNING, STOP = (wire.ALERT_CLEAR, wire.ALERT_NOTICE, wire.ALERT_WARNING,
                                wire.ALERT_STOP)
HCSR04_PERIOD_MS = 60  # HC-SR04 datasheet: >= 60 ms measurement cycle
HALF_BEAM_DEG = 7.5  # HC-SR04 datasheet: 15 degree measuring angle
BODY_HALF_M = 0.25  # half a runner's width (shoulders ~0.45-0.5 m)


def run(p, distance_at, seconds, period_ms=HCSR04_PERIOD_MS, tick_ms=20):
    """Readings every period_ms from distance_at(t_s) (mm or NO_READING) with motor ticks in
    between; [(t_s, level)] at every tick."""
    out = []
    t = 0
    next_reading = 0
    while t <= seconds * 1000:
        if t >= next_reading:
            level = p.update(t, distance_at(t / 1000))
            next_reading += period_ms
        else:
            level = p.check(t)
        out.append((t / 1000, level))
        t += tick_ms
    return out


def noise(t_s, mm=10):
    """Deterministic +-mm of measurement noise."""
    return round(mm * math.sin(t_s * 37.0) * math.cos(t_s * 11.0))


def test_the_hold_range_is_where_an_object_on_the_corridor_edge_leaves_the_beam():
    assert abs(hold_range_m(HALF_BEAM_DEG) - BODY_HALF_M / math.tan(math.radians(7.5))) < 1e-6
    assert hold_range_m(1.0) == 3.0  # TF-Luna's 2 degree cone: capped


def test_a_post_that_leaves_the_beam_is_held_until_the_hip_passes_it():
    """Backward at 2 m/s toward a post 0.24 m off the line (its near edge inside the runner's
    corridor): it leaves the 7.5 degree half-beam at 0.24 / tan(7.5 deg) = 1.82 m, 0.91 s
    before the hip reaches it. The warning must last until then, and end after."""
    speed, y = 2.0, 0.24
    leave_m = y / math.tan(math.radians(HALF_BEAM_DEG))
    start_m = 6.0
    t_leave = (start_m - leave_m) / speed
    t_contact = start_m / speed

    def distance(t):
        d = start_m - speed * t
        return round(d * 1000) if d > leave_m else wire.NO_READING

    p = Pipeline(hold_m=hold_range_m(HALF_BEAM_DEG))
    levels = run(p, distance, t_contact + 3)
    during = [lvl for t, lvl in levels if t_leave <= t <= t_contact]
    assert during and min(during) == STOP  # STOP from the loss to the contact, never less
    assert p.held is False
    after = [lvl for t, lvl in levels if t >= t_contact + 1.0]
    assert max(after) == CLEAR  # and it ends: no alarm without end


def test_an_object_lost_beyond_the_hold_range_misses_the_runner_and_is_not_held():
    """Lost at 3 m from a 7.5 degree half-beam, it is more than 0.39 m off the line: it passes
    beside the runner; the alert ends within the track's coasting and the hysteresis."""
    speed, leave_m, start_m = 2.0, 3.0, 6.0
    t_leave = (start_m - leave_m) / speed

    def distance(t):
        d = start_m - speed * t
        return round(d * 1000) if d > leave_m else wire.NO_READING

    levels = run(Pipeline(hold_m=hold_range_m(HALF_BEAM_DEG)), distance, t_leave + 3)
    assert max(lvl for t, lvl in levels if t >= t_leave + 1.0) == CLEAR


def test_standing_in_front_of_a_wall_settles_to_a_reminder_and_a_step_toward_it_stops_at_once():
    """Standing 0.9 m from a wall for 60 s: STOP at first, then (from 5 s on) the NOTICE
    reminder, never continuous STOP or WARNING; stepping back toward it at 0.5 m/s from 60 s
    gives STOP again within 0.5 s (0.25 m of travel)."""

    def distance(t):
        d = 900 if t < 60 else 900 - 500 * (t - 60)
        return max(d, 100) + noise(t)

    p = Pipeline(hold_m=hold_range_m(HALF_BEAM_DEG))
    levels = run(p, distance, 62)
    assert [lvl for t, lvl in levels if t < 1][-1] == STOP
    standing = {lvl for t, lvl in levels if 5 <= t < 60}
    assert standing == {NOTICE}
    first_stop = min(t for t, lvl in levels if t >= 60 and lvl == STOP)
    assert first_stop - 60 <= 0.5


def test_a_ground_return_while_running_is_silent_and_a_person_in_front_of_it_warns():
    """Running uphill, the beam meets the ground at a constant 2.0 m (+-30 mm): that moves with
    the runner, no warning after a short while; a person 1.6 m behind, closing at 2 m/s,
    warns at once (within 3 readings)."""

    def distance(t):
        if t < 30:
            return 2000 + noise(t, 30)
        return round(1600 - 2000 * (t - 30)) if t < 30.6 else 2000 + noise(t, 30)

    p = Pipeline(hold_m=hold_range_m(HALF_BEAM_DEG))
    p.moving = True  # the step counter counts a cadence
    levels = run(p, distance, 32)
    assert {lvl for t, lvl in levels if 3 <= t < 30} == {CLEAR}
    first = min(t for t, lvl in levels if t >= 30 and lvl >= WARNING)
    assert first - 30 <= 3 * HCSR04_PERIOD_MS / 1000
    assert max(lvl for t, lvl in levels if 30 <= t < 30.6) == STOP


def test_walking_slowly_into_a_wall_is_never_taken_for_the_ground():
    """Moving (cadence counted) but only at 0.25 m/s toward a wall from 3 m: the distance
    shrinks 150 mm every 0.6 s, so it is never "keeping its distance": WARNING by 2.5 m and
    STOP by 1.2 m (the default thresholds) as when standing."""

    def distance(t):
        return round(3000 - 250 * t) + noise(t)

    p = Pipeline(hold_m=hold_range_m(HALF_BEAM_DEG))
    p.moving = True
    levels = run(p, distance, 9)
    at = dict(levels)
    t_warn = (3000 - 2500) / 250 + 0.2
    t_stop = (3000 - 1200) / 250 + 0.2
    assert min(lvl for t, lvl in levels if t_warn <= t < t_stop) >= WARNING
    assert min(lvl for t, lvl in levels if t_stop <= t <= 9) == STOP
    assert at[0.0] <= NOTICE


def test_walking_up_to_a_bench_and_stopping_is_not_background_while_the_cadence_lingers():
    """Backward at 1 m/s to 0.8 m from a bench, then standing: the step cadence still counts
    for a while (moving), but something that closed in is no background: STOP until the
    standing-still reminder (3 s of keeping its distance), never CLEAR at 0.8 m."""

    stopped_at = (3000 - 800) / 1000

    def distance(t):
        p.moving = t < stopped_at + 2.0  # the cadence lingers 2 s after the last step
        return round(max(800, 3000 - 1000 * t)) + noise(t)

    p = Pipeline(hold_m=hold_range_m(HALF_BEAM_DEG))
    levels = run(p, distance, 12)
    assert min(lvl for t, lvl in levels if 1.5 <= t <= stopped_at + 2.5) == STOP
    assert {lvl for t, lvl in levels if t >= stopped_at + 6} == {NOTICE}


def test_a_dropout_does_not_restart_the_standing_alarm():
    """Standing 0.9 m from a wall, settled to the reminder; the sensor loses it for 0.6 s (longer
    than the track coasts) and finds it again where it was: still the reminder, no new 3 s of
    STOP. Found 0.2 m nearer, it is STOP at once."""

    def distance(t):
        if 20 <= t < 20.6 or 30 <= t < 30.6:
            return wire.NO_READING
        return (900 if t < 30 else 700) + noise(t)

    p = Pipeline(hold_m=hold_range_m(HALF_BEAM_DEG))
    levels = run(p, distance, 32)
    assert {lvl for t, lvl in levels if 5 <= t < 30} == {NOTICE}
    assert max(lvl for t, lvl in levels if 30.6 <= t <= 31.0) == STOP
