"""Ground truth of a scenario and the metrics that score the pipeline against it.

Truth is sampled every `TRUTH_DT_MS` from the world (not from the sensor): for every object,
its range from the sensor, whether it is in the beam, in the runner's corridor (it would hit),
within the sensor's reliable range, and its closing speed. Definitions (docs/scenarios.md):

- contact: an object in the corridor whose near face reaches the runner (gap <= 0);
- entering the reliable range: first time the contact object is in the beam and within the
  range the kind sees it reliably (SensorModel.sensible) in at least half of the next 0.4 s;
- lead time ratio: (contact - first alert felt) / (contact - entering the reliable range),
  where the first alert is the start of the last uninterrupted alert (>= notice) before contact
  and "felt" is the first motor-on from then on;
- missed: the last uninterrupted STOP before contact was felt with a gap to the object shorter
  than the stopping distance at the closing speed then (sim/physics.py), or never;
- standing alarm: continuous WARNING/STOP (the motor never off > 0.5 s, >= 1 s long) while
  the runner stands still, counted from the 5th second of each standing stretch, leaving out
  moments when something in the corridor closes in;
- false alarm: a rise to WARNING/STOP while no object in the corridor is near (<= warning_m +
  1 m) or closing with a time to contact <= ttc_warning_s + 1 s (within 1.5 s before to 0.5 s
  after the rise); nuisance notice: a rise to NOTICE with no object in the corridor within
  notice_m + 1 m in that window;
- latency: from the true level (same thresholds applied to the truth) rising to L, to the motor
  starting on a level >= L; only for rises at least two sensor periods after the object entered
  the reliable range (earlier rises are what the lead time ratio scores);
- fault detection: from a sensor fault's onset to the motor starting the FAULT pattern.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field

from retrorun.devtools.sim import physics
from retrorun.devtools.sim.app_run import BoardRun
from retrorun.devtools.sim.scenario import Scenario
from retrorun.devtools.sim.sensors import SensorModel
from retrorun.devtools.sim.world import Obj, Runner

TRUTH_DT_MS = 10
STANDING_GRACE_S = 5.0  # a standing alarm counts from the 5th second of standing on
ALARM_GAP_MS = 500  # motor off longer than this ends a continuous alarm
ALARM_MIN_MS = 1000  # shorter alarm stretches are reminders, not continuous alarms
NO_RESPONSE_MS = 10_000  # latency counted when the pipeline never reaches the level
CLEAR, NOTICE, WARNING, STOP, FAULT = range(5)


@dataclass
class Truth:
    times: list[int]  # ms
    # per object: lists aligned with times
    rng: list[list[float]] = field(default_factory=list)
    beam: list[list[bool]] = field(default_factory=list)
    corr: list[list[bool]] = field(default_factory=list)
    gap: list[list[float]] = field(default_factory=list)
    sensible: list[list[bool]] = field(default_factory=list)
    closing: list[list[float]] = field(default_factory=list)  # range rate, m/s
    closing_path: list[list[float]] = field(default_factory=list)  # path gap rate, smoothed
    standing: list[bool] = field(default_factory=list)  # the runner stands still
    contact_ms: int | None = None
    contact_obj: int | None = None
    distance_m: float = 0.0


def compute_truth(sc: Scenario, runner: Runner, objects: list[Obj], sensor: SensorModel,
                  end_ms: int) -> Truth:
    times = list(range(0, end_ms + 1, TRUTH_DT_MS))
    truth = Truth(times=times)
    for obj in objects:
        rngs, beams, corrs, gaps, sens = [], [], [], [], []
        for t_ms in times:
            t = t_ms / 1000.0
            xr = runner.position(t)
            in_corr, gap = obj.corridor(t, xr)
            sight = sensor.look(obj, t, xr, sensor.axis_elev(t, runner), runner.slope)
            rngs.append(sight.range_m if sight is not None else max(gap, 0.0))
            beams.append(sight is not None and sight.in_beam)
            corrs.append(in_corr)
            gaps.append(gap)
            sens.append(sensor.sensible(sight))
        closing = [0.0] + [-(rngs[i] - rngs[i - 1]) * 1000 / TRUTH_DT_MS
                           for i in range(1, len(times))]
        truth.rng.append(rngs)
        truth.beam.append(beams)
        truth.corr.append(corrs)
        truth.gap.append(gaps)
        truth.sensible.append(sens)
        truth.closing.append(closing)
        truth.closing_path.append(physics.path_closing(gaps, TRUTH_DT_MS))
    for i, obj in enumerate(objects):
        size = obj.size_along_path()
        for j, t_ms in enumerate(times):
            if truth.corr[i][j] and -size < truth.gap[i][j] <= 0 and j > 0:
                if truth.contact_ms is None or t_ms < truth.contact_ms:
                    truth.contact_ms = t_ms
                    truth.contact_obj = i
                break
    t_end = (truth.contact_ms if truth.contact_ms is not None else end_ms) / 1000.0
    truth.distance_m = abs(runner.position(t_end) - runner.position(0.0))
    truth.standing = [runner.standing(t_ms / 1000.0) for t_ms in times]
    return truth


def _closing_over_1s(truth: Truth, i: int, j: int) -> float:
    """Object i's closing speed (m/s) over the second before sample j: an approach, not the
    runner's hip sway (2 cm at 2.8 Hz peaks at 0.35 m/s and averages to nothing)."""
    k = max(0, j - 1000 // TRUTH_DT_MS)
    if k == j:
        return 0.0
    return (truth.rng[i][k] - truth.rng[i][j]) * 1000 / ((j - k) * TRUTH_DT_MS)


def true_level(sc: Scenario, truth: Truth, j: int) -> tuple[int, int]:
    """(level, object) the thresholds give on the truth at sample j (non-closing NOTICE
    excluded: the pipeline rightly drops it)."""
    c = sc.config
    best, who = CLEAR, -1
    for i in range(len(truth.rng)):
        if not truth.corr[i][j] or truth.gap[i][j] <= 0:
            continue
        d = truth.rng[i][j]
        v = truth.closing[i][j]
        ttc = d / v if v > 0.25 else math.inf
        if c["mode"] == "treadmill":
            lvl = STOP if d <= c["treadmill_min_m"] else (
                WARNING if d <= c["treadmill_min_m"] + 0.2 else CLEAR)
        elif d <= c["stop_m"] or ttc <= c["ttc_stop_s"]:
            lvl = STOP
        elif d <= c["warning_m"] or ttc <= c["ttc_warning_s"]:
            lvl = WARNING
        elif d <= c["notice_m"] and _closing_over_1s(truth, i, j) > 0.3 \
                and c["mode"] != "treadmill":
            lvl = NOTICE
        else:
            lvl = CLEAR
        if lvl > best:
            best, who = lvl, i
    return best, who


class Timeline:
    """The pipeline's level and motor over time (step functions from the device events)."""

    def __init__(self, run: BoardRun):
        self.level_t = [e[0] for e in run.levels]
        self.level_v = [e[1] for e in run.levels]
        self.motor_t = [m[0] for m in run.motor]
        self.motor_v = [m[1] for m in run.motor]

    def level_at(self, t: int) -> int:
        i = bisect.bisect_right(self.level_t, t) - 1
        return self.level_v[i] if i >= 0 else CLEAR

    def motor_at(self, t: int) -> int:
        i = bisect.bisect_right(self.motor_t, t) - 1
        return self.motor_v[i] if i >= 0 else 0

    def motor_on_from(self, t: int) -> int | None:
        """First time >= t the motor is on."""
        if self.motor_at(t) > 0:
            return t
        i = bisect.bisect_left(self.motor_t, t)
        for k in range(i, len(self.motor_t)):
            if self.motor_v[k] > 0:
                return self.motor_t[k]
        return None

    def rises(self, level_min: int, below: int):
        """Times the level rises to >= level_min (and < FAULT) from a level < below."""
        prev = CLEAR
        for t, v in zip(self.level_t, self.level_v, strict=True):
            if level_min <= v < FAULT and prev < below:
                yield t
            prev = v

    def run_start(self, t_end: int, lo: int, hi: int) -> int | None:
        """Start of the uninterrupted stretch with lo <= level <= hi that covers t_end."""
        i = bisect.bisect_right(self.level_t, t_end) - 1
        if i < 0 or not lo <= self.level_v[i] <= hi:
            return None
        while i > 0 and lo <= self.level_v[i - 1] <= hi:
            i -= 1
        return self.level_t[i]


def _justified(sc: Scenario, truth: Truth, t_ms: int, level: int) -> bool:
    c = sc.config
    j0 = max(0, (t_ms - 1500) // TRUTH_DT_MS)
    j1 = min(len(truth.times) - 1, (t_ms + 500) // TRUTH_DT_MS)
    for i in range(len(truth.rng)):
        for j in range(j0, j1 + 1):
            if not truth.corr[i][j] or truth.gap[i][j] <= 0:
                continue
            d = truth.rng[i][j]
            v = truth.closing[i][j]
            if c["mode"] == "treadmill":
                if d <= c["treadmill_min_m"] + 0.5:
                    return True
                continue
            if level >= WARNING:
                if d <= c["warning_m"] + 1.0 or (v > 0.25 and d / v <= c["ttc_warning_s"] + 1):
                    return True
            elif d <= c["notice_m"] + 1.0:
                return True
    return False


def score(sc: Scenario, sensor: SensorModel, truth: Truth, run: BoardRun) -> dict:
    """Metrics of one scenario run (a JSON-ready dict)."""
    tl = Timeline(run)
    k = sensor.kind
    out: dict = {"name": sc.name, "sensor": k.name, "mode": sc.config["mode"],
                 "physics_limited": sc.physics_limited, "distance_m": round(truth.distance_m, 1),
                 "collision": truth.contact_ms is not None}
    if sc.physics_limited:
        out["physics_reason"] = sc.physics_reason
    # collision course: lead time and stop
    if truth.contact_ms is not None:
        tc = truth.contact_ms
        i = truth.contact_obj
        assert i is not None
        jc = tc // TRUTH_DT_MS
        je = physics.entering(truth.sensible[i], TRUTH_DT_MS, jc)
        enter = None if je is None else truth.times[je]
        out["contact_s"] = tc / 1000
        out["available_s"] = None if enter is None else round((tc - enter) / 1000, 3)
        out["closing_at_contact_mps"] = round(_at(truth.closing_path[i], jc - 1), 2)
        ok = physics.physics_ok(truth.gap[i], truth.closing_path[i], je, jc)
        out["physics_check"] = "ok" if ok else "limited"
        a0 = tl.run_start(tc, NOTICE, STOP)
        felt = tl.motor_on_from(a0) if a0 is not None else None
        out["first_alert_s"] = None if felt is None else felt / 1000
        if enter is not None and felt is not None and tc > enter:
            out["lead_time_ratio"] = round((tc - felt) / (tc - enter), 3)
        else:
            out["lead_time_ratio"] = 0.0
        s0 = tl.run_start(tc, STOP, STOP)
        stop_felt = tl.motor_on_from(s0) if s0 is not None else None
        out["stop_lead_s"] = None if stop_felt is None else round((tc - stop_felt) / 1000, 3)
        if stop_felt is None or stop_felt > tc:
            out["stop_gap_m"] = out["stop_needed_m"] = None
            out["missed"] = True
        else:
            js = stop_felt // TRUTH_DT_MS
            gap = _at(truth.gap[i], js)
            need = physics.stop_distance_m(_at(truth.closing_path[i], js))
            out["stop_gap_m"] = round(gap, 2)
            out["stop_needed_m"] = round(need, 2)
            out["missed"] = gap < need
    # false alarms and nuisance notices
    out["false_alarms"] = [t / 1000 for t in tl.rises(WARNING, WARNING)
                           if not _justified(sc, truth, t, WARNING)]
    out["nuisance_notices"] = [t / 1000 for t in tl.rises(NOTICE, NOTICE)
                               if tl.level_at(t) == NOTICE and not _justified(sc, truth, t, NOTICE)]
    # latency
    settle = 2 * k.period_ms + k.delay_ms
    enter_at = []
    for i in range(len(truth.rng)):
        enter_at.append(next((truth.times[j] for j, s in enumerate(truth.sensible[i]) if s),
                             None))
    lat = []
    split: list[list[int]] = []
    measured = [t for t, _ in run.measured]
    prev = CLEAR
    faults = sensor.faults
    first_fault_ms = int(faults[0]["at_s"] * 1000) if faults else None
    for j, t_ms in enumerate(truth.times):
        lvl, who = true_level(sc, truth, j)
        if lvl > prev and who >= 0 and enter_at[who] is not None \
                and truth.sensible[who][j] and t_ms >= enter_at[who] + settle \
                and (first_fault_ms is None or t_ms < first_fault_ms) \
                and (truth.contact_ms is None or t_ms < truth.contact_ms):
            for level in range(prev + 1, lvl + 1):
                if level == NOTICE and sc.config["mode"] == "treadmill":
                    continue
                total, t_level, felt = _latency(tl, t_ms, level)
                lat.append(total)
                if t_level is not None and felt is not None:
                    split.append(_split(measured, t_ms, t_level, felt))
        prev = lvl
    out["latencies_ms"] = lat
    out["latency_split_ms"] = split
    # fault detection
    if faults:
        onset = int(faults[0]["at_s"] * 1000)
        t_fault = next((t for t, v in zip(tl.level_t, tl.level_v, strict=True)
                        if v == FAULT and t >= onset), None)
        felt = tl.motor_on_from(t_fault) if t_fault is not None else None
        out["fault_detect_s"] = None if felt is None else round((felt - onset) / 1000, 3)
    out["max_level"] = max((v for v in tl.level_v if v < FAULT), default=CLEAR)
    out["fault_seen"] = FAULT in tl.level_v
    out["standing_s"] = round(sum(truth.standing) * TRUTH_DT_MS / 1000, 2)
    out["standing_alarm_s"] = round(standing_alarm_ms(truth, tl) / 1000, 2)
    out["range_events"] = [{"t_s": t / 1000, "reduced": bool(a), "range_mm": b}
                           for t, a, b in run.ranges]
    out["reduced_range_expected"] = sensor.reduced_range()
    out["usable_range_m"] = round(sensor.usable_range_m(), 2)
    out["reduced_range_signalled"] = any(a for _t, a, _b in run.ranges)
    return out


def _at(values: list[float], j: int) -> float:
    return values[max(0, min(len(values) - 1, j))]


def continuous_alarms(tl: Timeline, end_ms: int) -> list[tuple[int, int]]:
    """Stretches (ms) of WARNING or STOP during which the motor is never off for more than
    ALARM_GAP_MS, lasting at least ALARM_MIN_MS: an alarm that keeps playing."""
    stretches: list[list[int]] = []  # level at WARNING/STOP, merged
    bounds = sorted({t for t in tl.level_t if t < end_ms} | {end_ms})
    for a, b in itertools.pairwise(bounds):
        if WARNING <= tl.level_at(a) <= STOP:
            if stretches and stretches[-1][1] == a:
                stretches[-1][1] = b
            else:
                stretches.append([a, b])
    out = []
    for a, b in stretches:
        start = a
        for g0, g1 in _motor_gaps(tl, a, b):
            if g1 - g0 > ALARM_GAP_MS:
                out.append((start, g0))
                start = g1
        out.append((start, b))
    return [(a, b) for a, b in out if b - a >= ALARM_MIN_MS]


def _motor_gaps(tl: Timeline, a: int, b: int) -> list[tuple[int, int]]:
    """Intervals within [a, b) during which the motor is off."""
    gaps = []
    off_from = a if tl.motor_at(a) == 0 else None
    i = bisect.bisect_right(tl.motor_t, a)
    while i < len(tl.motor_t) and tl.motor_t[i] < b:
        t, v = tl.motor_t[i], tl.motor_v[i]
        if v == 0 and off_from is None:
            off_from = t
        elif v > 0 and off_from is not None:
            gaps.append((off_from, t))
            off_from = None
        i += 1
    if off_from is not None:
        gaps.append((off_from, b))
    return gaps


def standing_alarm_ms(truth: Truth, tl: Timeline) -> int:
    """Time (ms) of continuous WARNING/STOP while the runner stands still, counted from the
    5th second of each standing stretch on, leaving out moments when something in the corridor
    is closing in (that alarm is warranted)."""
    if not truth.times:
        return 0
    end = truth.times[-1]
    alarms = continuous_alarms(tl, end)
    total = 0
    since = None
    for j, t_ms in enumerate(truth.times):
        if not truth.standing[j]:
            since = None
            continue
        if since is None:
            since = t_ms
        if t_ms - since < STANDING_GRACE_S * 1000:
            continue
        if any(truth.corr[i][j] and truth.gap[i][j] > 0 and truth.closing_path[i][j] > 0.25
               for i in range(len(truth.rng))):
            continue
        if any(a <= t_ms < b for a, b in alarms):
            total += TRUTH_DT_MS
    return total


def _latency(tl: Timeline, t_ms: int, level: int) -> tuple[int, int | None, int | None]:
    """(latency ms, when the level reached `level`, when the motor started on it) for a true
    rise to `level` at t_ms; 0 when the device was already there, NO_RESPONSE_MS when it never
    got there."""
    if level <= tl.level_at(t_ms) < FAULT:
        return 0, None, None
    for t, v in zip(tl.level_t, tl.level_v, strict=True):
        if t > t_ms and level <= v < FAULT:
            felt = tl.motor_on_from(t)
            return (NO_RESPONSE_MS, t, None) if felt is None else (felt - t_ms, t, felt)
    return NO_RESPONSE_MS, None, None


def _split(measured: list[int], t_ms: int, t_level: int, felt: int) -> list[int]:
    """A latency in three parts (ms): the sensor model's next measurement after the true rise;
    from that measurement to the app's level change (echo or frame, driver, bus, the app's
    tasks, the pipeline's confirmation); from the level change to the motor output."""
    i = bisect.bisect_left(measured, t_ms)
    t_meas = measured[i] if i < len(measured) and measured[i] <= t_level else t_ms
    return [t_meas - t_ms, t_level - t_meas, felt - t_level]
