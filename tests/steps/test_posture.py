"""Trunk inclination on synthetic tilts with known answers, and the posture cue (both runtimes)."""

from __future__ import annotations

import pytest

from retrofw.posture import Posture

# Gravity of 1 g tilted by a known angle about different axes, as the sensor sees it, plus a
# step-like bounce the low-pass must ignore. Integer mg samples, generated inside the snippet
# with integer arithmetic only so both runtimes feed identical numbers.
_TILT = """
import math
from retrofw.posture import Posture

def tilted(deg, axis):
    a = math.radians(deg)
    c = round(1000 * math.cos(a))
    s = round(1000 * math.sin(a))
    if axis == 'x':
        return (0, s, c)
    if axis == 'y':
        return (s, 0, c)
    return (s * 7 // 10, s * 7 // 10, c)

result = []
for deg, axis in CASES:
    p = Posture(50)
    x, y, z = tilted(deg, axis)
    for i in range(400):  # 8 s with a 2 Hz bounce of +-300 mg along gravity
        b = ((i % 25) - 12) * 25
        p.update(x + x * b // 1000, y + y * b // 1000, z + z * b // 1000)
    result.append(p.angle_tenths())
"""

CASES = [(0, "x"), (10, "x"), (25, "y"), (45, "d"), (60, "y"), (90, "x"), (135, "y")]


@pytest.mark.micropython
def test_inclination_of_known_tilts_in_both_runtimes(both):
    got = both.run(_TILT.replace("CASES", repr(CASES)))
    for (deg, axis), tenths in zip(CASES, got, strict=True):
        assert abs(tenths - deg * 10) <= 5, f"{deg} deg about {axis}: got {tenths / 10}"


@pytest.mark.micropython
def test_calibration_makes_any_mounting_upright(both):
    code = """
from retrofw.posture import Posture
p = Posture(50)
for i in range(300):
    p.update(707, 0, -707)  # clipped on at 135 degrees from +Z
before = p.angle_tenths()
p.calibrate()
upright = p.angle_tenths()
for i in range(300):
    p.update(1000, 0, 0)  # then leaning 45 degrees away from that
result = [before, upright, p.angle_tenths()]
"""
    before, upright, lean = both.run(code)
    assert abs(before - 1350) <= 3 and upright == 0 and abs(lean - 450) <= 10


def test_low_pass_ignores_a_single_impact():
    p = Posture(50)
    for _ in range(200):
        p.update(0, 0, 1000)
    p.update(3000, 0, 4000)  # one 5 g hit, sideways
    assert p.angle_tenths() < 40


def _lean_run(cue: bool, lean_deg: int, seconds: float, cue_deg=25, cue_s=5):
    import math

    p = Posture(50, cue=cue, cue_deg=cue_deg, cue_s=cue_s)
    a = math.radians(lean_deg)
    fired = []
    for i in range(int(seconds * 50)):
        t = i * 20
        if t < 2000:
            p.update(0, 0, 1000)
        else:
            p.update(round(1000 * math.sin(a)), 0, round(1000 * math.cos(a)))
        if i % 10 == 0 and p.cue_check(t):
            fired.append(t)
    return fired


def test_posture_cue_is_off_by_default():
    assert _lean_run(False, 40, 20) == []


def test_posture_cue_fires_once_after_the_lean_lasts():
    fired = _lean_run(True, 35, 20)
    assert len(fired) == 1
    # the lean starts at 2 s; the filter needs ~1 s to pass 25 deg; the cue waits 5 s more
    assert 7000 <= fired[0] <= 9000


def test_posture_cue_stays_quiet_under_the_threshold():
    assert _lean_run(True, 20, 20) == []


def test_posture_cue_takes_the_config_float_threshold():
    assert len(_lean_run(True, 35, 20, cue_deg=32.5, cue_s=3)) == 1
    assert _lean_run(True, 35, 20, cue_deg=37.5, cue_s=3) == []


@pytest.mark.micropython
def test_posture_update_allocates_nothing(mpy):
    code = """
from retrofw.posture import Posture
p = Posture(50)
def feed(n):
    for i in range(n):
        p.update(100 + i, -200, 980)
feed(5)
no_alloc(feed, 200)
result = p.angle_tenths()
"""
    assert 100 < mpy.eval(code) < 200


def test_bad_posture_settings_are_refused():
    with pytest.raises(ValueError):
        Posture(50, cue_deg=0)
    with pytest.raises(ValueError):
        Posture(50, ref=(0, 0, 0))
