"""The warning pipeline (retrofw.ranging + retrofw.alerts): TTC, hysteresis, modes, faults,
outliers; the same answers in CPython and MicroPython; no allocation per reading."""

import itertools

import pytest

from retrofw import wire
from retrofw.alerts import Pipeline

CLEAR, NOTICE, WARNING, STOP, FAULT = (wire.ALERT_CLEAR, wire.ALERT_NOTICE, wire.ALERT_WARNING,
                                       wire.ALERT_STOP, wire.ALERT_FAULT)


def feed(p, samples, period=50, t0=0, tick=20):
    """Feed (reading) samples every `period` ms with motor-tick checks between; return
    [(t, level)] at every reading."""
    out = []
    t = t0
    for value in samples:
        for k in range(tick, period, tick):
            p.check(t - period + k)
        out.append((t, p.update(t, value)))
        t += period
    return out


def changes(levels):
    return sum(1 for a, b in itertools.pairwise(levels) if a[1] != b[1])


def test_alert_levels_match_wire():
    from retrofw import alerts
    assert (alerts._CLEAR, alerts._NOTICE, alerts._WARNING, alerts._STOP, alerts._FAULT) == (
        CLEAR, NOTICE, WARNING, STOP, FAULT)


def test_closing_speed_and_ttc_track_a_constant_approach():
    p = Pipeline()
    # 3 m/s closing from 7 m, a reading every 50 ms
    samples = [7000 - 150 * i for i in range(20)]
    feed(p, samples)
    d_true = samples[-1]
    assert abs(p.closing_mms - 3000) <= 150
    assert abs(p.ttc_ms - d_true * 1000 // 3000) <= 0.1 * d_true * 1000 // 3000
    assert abs(p.distance_mm - d_true) <= 60


def test_ttc_raises_stop_before_the_distance_threshold():
    p = Pipeline()
    levels = feed(p, [7000 - 200 * i for i in range(30)])  # 4 m/s
    first_stop = next(t for t, lvl in levels if lvl == STOP)
    d_at_stop = 7000 - 200 * (first_stop // 50)
    assert d_at_stop > 5000  # ttc 1.5 s at 4 m/s = 6 m, far beyond stop_m = 1.2 m
    first_warning = next(t for t, lvl in levels if lvl >= WARNING)
    assert first_warning < first_stop


def test_static_object_near_a_threshold_does_not_chatter():
    import random

    rnd = random.Random(3)
    p = Pipeline()
    samples = [2500 + rnd.randint(-120, 120) for _ in range(400)]  # 20 s around warning_m
    levels = feed(p, samples)
    assert changes(levels[4:]) <= 1
    assert max(lvl for _, lvl in levels) == WARNING


def test_level_comes_down_only_after_hysteresis_and_hold():
    p = Pipeline(hold_ms=300)
    feed(p, [1000] * 10)  # STOP by distance
    assert p.level == STOP
    out = feed(p, [1400] * 10, t0=500)  # 1.4 m: above stop_m 1.2 but inside 1.2 + 0.3
    assert all(lvl == STOP for _, lvl in out)
    out = feed(p, [1700] * 20, t0=1000)  # beyond the widened threshold: down after hold_ms
    down = next(t for t, lvl in out if lvl < STOP)
    assert 1000 + 250 <= down <= 1000 + 400
    assert out[-1][1] == WARNING


def test_single_spurious_echo_on_a_far_track_raises_nothing():
    p = Pipeline()
    samples = [3800] * 60 + [600] + [3800] * 20
    levels = feed(p, samples)
    assert max(lvl for _, lvl in levels[55:]) <= NOTICE


def test_new_object_appearing_close_is_confirmed_on_the_second_reading():
    p = Pipeline()
    feed(p, [wire.NO_READING] * 10)
    out = feed(p, [1000, 990, 980], t0=500)
    assert out[0][1] == CLEAR  # one close reading could be a spurious echo
    assert out[1][1] == STOP


def test_slow_sensor_far_first_sighting_is_felt_at_once():
    p = Pipeline()
    feed(p, [wire.NO_READING] * 10, period=100)
    out = feed(p, [4400, 4150], period=100, t0=1000)
    assert out[0][1] == NOTICE  # entering the range from afar: no reading to waste
    assert out[1][1] >= WARNING  # 2.5 m/s at 4.15 m: ttc 1.7 s


def test_fast_sensor_waits_one_reading_before_notice():
    p = Pipeline()
    feed(p, [wire.NO_READING] * 50, period=10)
    out = feed(p, [3500, 3490, 3480], period=10, t0=500)
    assert out[0][1] == CLEAR and out[1][1] >= NOTICE


def test_outdoor_static_object_notice_fades_track_mode_never_notices():
    p = Pipeline()
    out = feed(p, [3000] * 80)  # a companion at 3 m, keeping the distance, for 4 s
    assert out[2][1] == NOTICE and out[-1][1] == CLEAR
    p = Pipeline(mode="track")
    out = feed(p, [3000] * 80)
    assert max(lvl for _, lvl in out) == CLEAR
    out = feed(p, [3000 - 100 * i for i in range(15)], t0=4000)  # now closing at 2 m/s
    assert max(lvl for _, lvl in out) >= WARNING


def test_treadmill_mode_uses_only_the_console_distance():
    p = Pipeline(mode="treadmill", treadmill_min_m=0.5)
    assert max(lvl for _, lvl in feed(p, [900] * 40)) == CLEAR
    # a fast swing toward the console that stays away from it: no TTC alarm
    out = feed(p, [900 - 40 * i for i in range(5)] + [740] * 10, t0=2000)
    assert max(lvl for _, lvl in out) == CLEAR
    assert feed(p, [650] * 10, t0=3000)[-1][1] == WARNING
    assert feed(p, [450] * 10, t0=4000)[-1][1] == STOP
    out = feed(p, [950] * 20, t0=5000)
    assert out[-1][1] == CLEAR


def test_fault_codes_raise_fault_after_the_timeout():
    p = Pipeline(fault_timeout_ms=500)
    feed(p, [3000] * 20)  # t = 0..950
    t_fault = 1000
    out = []
    for i in range(80):
        t = t_fault + 10 * i
        out.append((t, p.update(t, wire.SENSOR_NO_ACK) if i % 5 == 0 else p.check(t)))
    first = next(t for t, lvl in out if lvl == FAULT)
    assert 950 + 500 < first <= 950 + 500 + 20


def test_silent_sensor_is_a_fault_no_reading_is_not():
    p = Pipeline(fault_timeout_ms=500)
    assert p.check(0) == CLEAR
    assert p.check(400) == CLEAR
    assert p.check(520) == FAULT  # never a reading since start
    p = Pipeline(fault_timeout_ms=500)
    levels = feed(p, [wire.NO_READING] * 200)  # open field: sees nothing, works fine
    assert max(lvl for _, lvl in levels) == CLEAR


def test_fault_recovers_after_good_readings():
    p = Pipeline(fault_timeout_ms=500, recover_ms=300)
    feed(p, [wire.SENSOR_BLINDED] * 20)
    assert p.level == FAULT
    out = feed(p, [wire.NO_READING] * 10, t0=1000)
    back = next(t for t, lvl in out if lvl != FAULT)
    assert 1000 + 300 <= back <= 1000 + 350


def test_fault_overrides_an_object_alert():
    p = Pipeline()
    feed(p, [1000] * 10)
    assert p.level == STOP
    feed(p, [wire.SENSOR_STUCK] * 15, t0=500)
    assert p.level == FAULT


@pytest.mark.parametrize("kwargs", [{"mode": "beach"}, {"stop_m": 3.0},
                                    {"ttc_stop_s": 3.0}, {"fault_timeout_ms": 10}])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        Pipeline(**kwargs)


SEQUENCE = """
from retrofw.alerts import Pipeline
from retrofw import wire
p = Pipeline()
seq = [wire.NO_READING] * 5 + [6000 - 160 * i for i in range(30)] + [wire.SENSOR_TIMEOUT] * 15
seq += [2000] * 5 + [2100 + 5 * i for i in range(20)]
out = []
t = 0
for v in seq:
    p.check(t - 30)
    out.append([t, p.update(t, v), p.distance_mm, p.closing_mms, p.ttc_ms])
    t += 50
result = out
"""


def test_same_levels_in_cpython_and_micropython(both):
    out = both.run(SEQUENCE)
    assert {row[1] for row in out} >= {NOTICE, WARNING, STOP, FAULT}


def test_per_reading_path_allocates_nothing(mpy):
    result = mpy.eval("""
from retrofw.alerts import Pipeline
from retrofw.haptics import PatternPlayer
from retrofw import wire
p = Pipeline()
pl = PatternPlayer()
seq = [wire.NO_READING] * 5 + [6000 - 160 * i for i in range(30)] + [wire.SENSOR_TIMEOUT] * 15
seq += [2000] * 5 + [2100 + 5 * i for i in range(20)] + [700, 3000, 3010, 600, 590]
arg = [0, 0]
def step(a):
    t = a[0]
    p.update(t, a[1])
    lvl = p.check(t + 20)
    pl.set_level(lvl, t + 20)
    pl.update(t + 20)
    pl.update(t + 40)
levels = []
t = 0
for v in seq:
    arg[0] = t
    arg[1] = v
    no_alloc(step, arg)
    levels.append(p.level)
    t += 50
tr = Pipeline(mode="treadmill")
def step2(a):
    tr.update(a[0], a[1])
    tr.check(a[0] + 20)
for i in range(20):
    arg[0] = i * 50
    arg[1] = 900 - 25 * i
    no_alloc(step2, arg)
result = [levels, tr.level]
""")
    levels, treadmill = result
    assert set(levels) >= {NOTICE, WARNING, STOP, FAULT}  # the locked path went everywhere
    assert treadmill == STOP


def test_no_alloc_probe_would_catch_an_allocating_update(mpy):
    from retrorun.devtools.mpy import MicroPythonError

    with pytest.raises(MicroPythonError, match="MemoryError"):
        mpy.eval("""
from retrofw.alerts import Pipeline
p = Pipeline()
def step(a):
    p.update(a[0], a[1])
    return [a[0], 1.5 * a[1]]
no_alloc(step, [0, 1000])
result = 1
""")


WRAP = """
from retrofw.alerts import Pipeline
from retrofw.haptics import PatternPlayer
from retrofw.ticks import ticks_add
from retrofw import wire
def run(t0):
    p = Pipeline()
    pl = PatternPlayer()
    seq = [wire.NO_READING] * 5 + [6000 - 160 * i for i in range(30)] + [wire.SENSOR_STUCK] * 15
    seq += [wire.NO_READING] * 10
    out = []
    for i, v in enumerate(seq):
        t = ticks_add(t0, 50 * i)
        p.update(t, v)
        lvl = p.check(ticks_add(t, 20))
        pl.set_level(lvl, ticks_add(t, 20))
        out.append([lvl, p.distance_mm, p.ttc_ms, pl.update(ticks_add(t, 40))])
    return out
result = [run(0), run((1 << 30) - 1200)]
"""


def test_tick_wraparound_changes_nothing(both):
    plain, wrapped = both.run(WRAP)
    assert plain == wrapped
    assert {row[0] for row in plain} >= {NOTICE, STOP, FAULT}
