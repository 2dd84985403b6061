"""`retrorun sim run` on files that are not scenarios, and scenarios with wrong JSON types."""

from __future__ import annotations

import json

import pytest

from retrorun.devtools.sim.scenario import SCENARIO_DIR


def _scenario(work, **changes):
    data = json.loads(next(iter(sorted(SCENARIO_DIR.glob("*.json")))).read_text())
    data.update(changes)
    path = work / "bad.json"
    path.write_text(json.dumps(data))
    return path


def test_directory_instead_of_scenario(fails, work):
    (work / "folder").mkdir()
    err = fails(["sim", "run", "folder"])
    assert err == ("retrorun: cannot read scenario file folder (Is a directory); give the path of "
                   "a scenario .json file")


def test_binary_file_instead_of_scenario(fails, garbage):
    err = fails(["sim", "run", garbage.name])
    assert "not a text file; a scenario is JSON" in err


@pytest.mark.parametrize("changes, message", [
    ({"config": [1]}, "'config' must be a JSON object"),
    ({"device": "abc"}, "'device' must be a JSON object"),
    ({"expect": [1]}, "'expect' must be a JSON object"),
    ({"objects": {"a": 1}}, "'objects' must be a JSON list"),
    ({"seed": "x"}, "'seed' must be an integer"),
    ({"tick_ms": "x"}, "'tick_ms' must be an integer"),
    ({"tick_ms": 0}, "tick_ms must be in 1-1000"),
    ({"runner": {"start_mps": "a"}}, "runner: 'start_mps' must be a number"),
    ({"runner": {"segments": [{"duration_s": "x"}]}},
     "runner.segments[0]: 'duration_s' must be a number"),
    ({"runner": {"segments": [{"duration_s": 1, "to_mps": "x"}]}},
     "runner.segments[0]: 'to_mps' must be a number"),
    ({"config": {"notice_m": "far"}}, "config: 'notice_m' must be a number"),
])
def test_wrong_json_types(fails, work, changes, message):
    err = fails(["sim", "run", _scenario(work, **changes).name])
    assert err.startswith("retrorun: bad.json: ") and message in err
    assert "docs/scenarios.md" in err or "1-1000" in err


@pytest.mark.parametrize("changes, message", [
    ({"objects": [{"type": "wall", "x_m": 20, "reflectivity": "high"}]},
     "objects[0]: 'reflectivity' must be a number"),
    ({"objects": [{"type": "car", "x_m": 20, "vx_mps": None}]},
     "objects[0]: 'vx_mps' must be a number"),
    ({"sensor": {"kind": "vl53l1x", "sunlight": "full"}}, "sensor: 'sunlight' must be a number"),
    ({"sensor": {"kind": "hcsr04", "faults": [{"type": "stuck", "at_s": "5"}]}},
     "sensor.faults[0]: 'at_s' must be a number"),
    ({"sensor": {"kind": "hcsr04", "faults": "stuck"}}, "sensor: 'faults' must be a JSON list"),
    ({"runner": {"cadence_spm": "fast"}}, "runner: 'cadence_spm' must be a number"),
])
def test_wrong_types_of_optional_fields(fails, work, changes, message):
    err = fails(["sim", "run", _scenario(work, **changes).name])
    assert err.startswith("retrorun: bad.json: ") and message in err
