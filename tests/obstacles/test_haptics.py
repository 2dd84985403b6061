"""Haptic patterns (retrofw.haptics): distinct by rhythm, STOP unmistakable, the player's
timing, cue rules; identical in CPython and MicroPython; the player allocates nothing."""

import pytest

from retrofw import haptics, wire
from retrofw.haptics import (
    PATTERN_CLEAR,
    PATTERN_FAULT,
    PATTERN_LOW_BATTERY,
    PATTERN_NOTICE,
    PATTERN_POSTURE,
    PATTERN_STOP,
    PATTERN_WARNING,
    PatternPlayer,
    pattern_steps,
)


def features(pattern):
    """(period ms, duty, pulses per second, distinct on-durations) of a pattern."""
    steps = pattern_steps(pattern)
    period = sum(d for d, _ in steps)
    on = sum(d for d, s in steps if s)
    pulses = sum(1 for d, s in steps if s)
    return period, on / period, pulses * 1000 / period, len({d for d, s in steps if s})


def trace(player, t0, t1, tick=10):
    return [player.update(t) for t in range(t0, t1, tick)]


def test_alert_pattern_ids_are_the_alert_levels():
    assert (PATTERN_CLEAR, PATTERN_NOTICE, PATTERN_WARNING, PATTERN_STOP, PATTERN_FAULT) == (
        wire.ALERT_CLEAR, wire.ALERT_NOTICE, wire.ALERT_WARNING, wire.ALERT_STOP,
        wire.ALERT_FAULT)
    assert len(haptics.PATTERNS) == len(haptics.PATTERN_NAMES)


def test_urgency_rises_by_rhythm_and_stop_is_continuous():
    notice, warning, stop = (features(p) for p in (PATTERN_NOTICE, PATTERN_WARNING,
                                                    PATTERN_STOP))
    assert notice[2] < warning[2]  # pulse rate: 1 Hz -> 4 Hz
    assert notice[1] < warning[1] < stop[1] == 1.0  # duty: STOP never pauses
    assert warning[2] >= 3 * notice[2]


def test_every_pattern_is_distinct():
    seen = {}
    for pid in range(len(haptics.PATTERNS)):
        steps = tuple(pattern_steps(pid))
        key = (features(pid), haptics.PATTERNS[pid][1])
        assert key not in seen.values(), (haptics.PATTERN_NAMES[pid], seen)
        seen[steps] = key


def test_fault_pattern_has_its_own_rhythm():
    period, duty, _rate, on_lengths = features(PATTERN_FAULT)
    assert on_lengths >= 2  # long-short-short: no other alert pattern mixes pulse lengths
    for pid in (PATTERN_NOTICE, PATTERN_WARNING, PATTERN_STOP):
        assert features(pid)[3] == 1
    assert 0.2 < duty < 0.8 and period >= 1000


def test_pulses_are_long_enough_for_an_erm_to_spin_up():
    for pid in range(len(haptics.PATTERNS)):
        for duration, strength in pattern_steps(pid):
            assert duration >= 40 and (strength == 0 or strength >= 100)


def test_level_change_starts_the_motor_at_once_and_repeats():
    pl = PatternPlayer()
    assert pl.update(0) == 0
    pl.set_level(wire.ALERT_WARNING, 1000)
    tr = trace(pl, 1000, 2000)
    assert tr[0] > 0
    on = [t for t, s in zip(range(1000, 2000, 10), tr, strict=True) if s]
    starts = [t for t in on if t - 10 not in on]
    assert starts == [1000, 1250, 1500, 1750]
    pl.set_level(wire.ALERT_STOP, 2000)
    assert set(trace(pl, 2000, 4000)) == {255}


def test_same_level_does_not_restart_the_pattern():
    pl = PatternPlayer()
    pl.set_level(wire.ALERT_NOTICE, 0)
    assert pl.update(100) == 0  # in the pause after the first pulse
    pl.set_level(wire.ALERT_NOTICE, 100)
    assert pl.update(110) == 0


def test_coming_down_from_an_alert_ticks_all_clear_once():
    pl = PatternPlayer()
    pl.set_level(wire.ALERT_STOP, 0)
    pl.set_level(wire.ALERT_CLEAR, 500)
    tr = trace(pl, 500, 1500)
    assert tr[0] > 0 and sum(1 for s in tr if s) == 4 and tr[-1] == 0


def test_cues_only_over_clear_or_notice_and_an_alert_cuts_them():
    pl = PatternPlayer()
    pl.set_level(wire.ALERT_WARNING, 0)
    assert pl.cue(PATTERN_POSTURE, 10) is False
    pl.set_level(wire.ALERT_CLEAR, 100)
    trace(pl, 100, 300)
    assert pl.cue(PATTERN_LOW_BATTERY, 300) is True
    assert trace(pl, 300, 600)[0] == 150
    pl.set_level(wire.ALERT_STOP, 600)
    assert pl.update(600) == 255


def test_notice_resumes_after_a_cue():
    pl = PatternPlayer()
    pl.set_level(wire.ALERT_NOTICE, 0)
    pl.cue(PATTERN_POSTURE, 200)
    tr = trace(pl, 200, 1400)
    assert tr[-1] == 0 and 170 in tr  # back to NOTICE pulses after the double tap


PLAYER_TRACE = """
from retrofw.haptics import PatternPlayer
pl = PatternPlayer()
out = []
plan = {0: 1, 1300: 2, 2100: 4, 4000: 3, 4600: 0, 5200: 1}
for t in range(0, 7000, 20):
    if t in plan:
        pl.set_level(plan[t], t)
    if t == 6100:
        pl.cue(6, t)
    out.append(pl.update(t))
result = out
"""


def test_player_same_in_both_runtimes(both):
    out = both.run(PLAYER_TRACE)
    assert set(out) >= {0, 110, 130, 170, 210, 220, 255}


@pytest.mark.parametrize("call", ["pl.update(t)", "pl.drive(t, 30)"])
def test_player_allocates_nothing(mpy, call):
    """Every motor tick: level changes, one-shot cues, update or the scaled drive."""
    assert mpy.eval(f"""
from retrofw.haptics import PatternPlayer
pl = PatternPlayer()
arg = [0]
def step(a):
    t = a[0]
    pl.set_level((t // 700) % 5, t)
    if t % 3000 == 0:
        pl.cue(5, t)
    {call}
for t in range(0, 8000, 20):
    arg[0] = t
    no_alloc(step, arg)
result = pl.level
""") in range(5)


DRIVE = """
from retrofw.haptics import PatternPlayer
out = []
for level in (1, 2, 3, 4):
    row = []
    for pct in (20, 50, 100):
        pl = PatternPlayer()
        pl.set_level(level, 0)
        row.append(max(pl.drive(t, pct) for t in range(0, 1500, 10)))
    out.append(row)
pl.set_level(0, 5000)  # from FAULT down: the "all clear" tick, scaled
out.append([pl.drive(5000, 20)])
result = out
"""


def test_stop_and_fault_ignore_the_strength_setting_in_both_runtimes(both):
    """haptic.strength scales CLEAR, NOTICE and WARNING; STOP and FAULT always play at their own
    full strength (issue 14: a low setting must not mute them)."""
    notice, warning, stop, fault, clear = both.run(DRIVE)
    full = {p: max(s for _, s in pattern_steps(p)) for p in (PATTERN_NOTICE, PATTERN_WARNING,
                                                            PATTERN_STOP, PATTERN_FAULT,
                                                            PATTERN_CLEAR)}
    assert notice == [full[PATTERN_NOTICE] * pct // 100 for pct in (20, 50, 100)]
    assert warning == [full[PATTERN_WARNING] * pct // 100 for pct in (20, 50, 100)]
    assert stop == [full[PATTERN_STOP]] * 3 == [255] * 3
    assert fault == [full[PATTERN_FAULT]] * 3
    assert clear == [full[PATTERN_CLEAR] * 20 // 100]
