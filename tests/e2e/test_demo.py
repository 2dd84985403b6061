"""End to end: the real main.py on the virtual board through the demo scenario.

One run (module fixture) is checked several ways: the report, the session file on the board,
the haptic timeline the board's motor pin recorded, and the alerts of the pure pipeline run
by the simulator on the same scenario.
"""

import itertools
import time
from pathlib import Path

import pytest

from retrofw import haptics, wire
from retrorun.devtools.demo import DEMO_SCENARIO, run_demo
from retrorun.sessions import logdecode

pytestmark = pytest.mark.slow

UNPLUG_S = 33.0  # the demo scenario's sensor fault
PRESS_S = 1.15  # the session starts when the button pressed at 1.0 s is released (150 ms)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    before = time.time()
    result = run_demo(work / "store.sqlite3", work / "plot.png", say=lambda _t: None,
                      work_dir=work)
    result.wall = (before, time.time())  # the laptop's clock around the run
    return result


def test_the_session_starts_at_the_laptops_time_in_sessions_csv_and_fit(demo, capsys):
    """The host set the board's clock at deploy (the RTC starts at 2000-01-01 otherwise):
    the start time is within a minute of the laptop's clock, as `sessions` and a FIT file read
    by fitdecode (an independent decoder) show it."""
    import json

    import fitdecode

    from retrorun.cli.main import main

    before, after = demo.wall
    capsys.readouterr()
    assert main(["sessions", "--store", demo.report["store"], "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    starts = [s["start"] for s in (listed if isinstance(listed, list) else listed["sessions"])]
    assert len(starts) == 1 and before - 60 <= starts[0] <= after + 60
    assert main(["export", demo.key, "--format", "csv", "-o", "-",
                 "--store", demo.report["store"]]) == 0
    import csv
    from datetime import datetime

    first = next(csv.DictReader(capsys.readouterr().out.splitlines()))
    at = datetime.fromisoformat(first["time_utc"].replace("Z", "+00:00")).timestamp()
    assert before - 60 <= at <= after + 60, first
    fit_path = Path(demo.report["store"]).with_name("run.fit")
    assert main(["export", demo.key, "--format", "fit", "-o", str(fit_path),
                 "--store", demo.report["store"]]) == 0
    with fitdecode.FitReader(str(fit_path)) as fit:
        frames = [f for f in fit if isinstance(f, fitdecode.FitDataMessage)]
    times = [f.get_value("time_created") for f in frames if f.name == "file_id"] + \
        [f.get_value("start_time") for f in frames if f.name == "session"]
    assert len(times) == 2
    assert all(before - 60 <= t.timestamp() <= after + 60 for t in times), times


def test_report_and_plot(demo):
    r = demo.report
    assert 55 <= r["duration_s"] <= 61
    assert r["alerts"]["warning"] >= 1 and r["alerts"]["fault"] == 1
    assert 1.5 < r["closest_approach_m"] < 3.0
    assert r["cadence"]["max_spm"] >= 160
    assert [f["fault"] for f in r["faults"]] in (["stuck"], ["no_ack"])
    fault_t = r["faults"][0]["t_s"] + PRESS_S
    assert UNPLUG_S <= fault_t <= UNPLUG_S + 1.0  # the fault pattern within 1 s
    with open(r["plot"], "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_steps_match_the_synthesized_gait(demo):
    from retrorun.devtools.vboard.world import ScenarioWorld

    world = ScenarioWorld(str(DEMO_SCENARIO))
    dt = 0.01
    expected = sum(world.cadence_spm(PRESS_S + i * dt) / 60 * dt
                   for i in range(int((60.0 - PRESS_S) / dt)))
    assert abs(demo.report["steps"] - expected) <= 0.1 * expected, expected


def test_session_file_on_the_board_decodes_and_equals_the_store(demo):
    from retrorun.sessions.store import Store

    files = sorted((demo.fs_dir / "sessions").glob("*.rrl"))
    assert len(files) == 1
    data = files[0].read_bytes()
    records, problems = logdecode.decode(data)
    assert problems == []
    assert records[0]["kind"] == "header" and records[-1]["kind"] == "footer"
    assert (demo.fs_dir / "sessions" / (files[0].stem + ".syn")).exists()
    with Store(demo.report["store"]) as store:
        assert store.raw(demo.key) == data


def _on_intervals(haptic, start, end):
    """(start_s, length_ms) of each motor-on interval between start and end."""
    out = []
    on_at = None
    for t, duty in haptic:
        if duty > 0 and on_at is None:
            on_at = t
        elif duty == 0 and on_at is not None:
            if start <= on_at <= end:
                out.append((on_at, round((t - on_at) * 1000)))
            on_at = None
    return out


def test_haptic_timeline_shows_the_fault_pattern_when_the_sensor_is_pulled(demo):
    pulses = _on_intervals(demo.haptic, UNPLUG_S, UNPLUG_S + 2.9)
    fault = [ms for ms, strength in haptics.pattern_steps(haptics.PATTERN_FAULT) if strength]
    lengths = [ms for _t, ms in pulses]
    # dah-di-di: a long pulse then two short ones, repeated
    assert len(lengths) >= 3
    first = lengths.index(max(lengths[:3]))
    got = lengths[first:first + 3]
    assert len(got) == 3
    for want, have in zip(fault, got, strict=True):
        assert abs(have - want) <= 40, (fault, lengths)


def test_haptic_timeline_shows_warning_pulses_at_4_hz(demo):
    pulses = _on_intervals(demo.haptic, 13.0, 19.0)
    assert len(pulses) >= 10  # 4 Hz for several seconds
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(pulses)]
    assert abs(sorted(gaps)[len(gaps) // 2] - 0.25) < 0.03


def test_alerts_match_the_pure_pipeline_on_the_same_scenario(demo):
    from retrorun.devtools.sim.run import run_scenario
    from retrorun.sessions.store import Store

    sim = run_scenario(DEMO_SCENARIO)
    sim_first = {}
    for change in sim["timeline"]:
        if change["event"] == "level":
            sim_first.setdefault(change["level"], change["t_s"])
    with Store(demo.report["store"]) as store:
        device_first = {}
        for event in store.events(demo.key):
            if event["type"] == wire.EV_ALERT:
                name = wire.ALERT_NAMES[event["a"]]
                device_first.setdefault(name, event["t_ms"] / 1000 + PRESS_S)
    for level in ("warning", "fault"):
        assert level in device_first and level in sim_first, (device_first, sim_first)
        assert abs(device_first[level] - sim_first[level]) <= 1.0, (level, device_first,
                                                                     sim_first)


def test_the_app_streams_live_lines_that_monitor_parses(demo):
    # two lines a second for a minute of virtual time
    assert demo.live_lines >= 100
