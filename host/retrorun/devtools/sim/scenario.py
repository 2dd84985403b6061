"""Scenario files: load, validate and fill in defaults (format in docs/scenarios.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from retrofw.alerts import MODES
from retrofw.wire import DISTANCE_KINDS
from retrorun.errors import RetrorunError

SCENARIO_DIR = Path(__file__).with_name("scenarios")

OBJECT_TYPES = ("wall", "post", "person", "cyclist", "car", "bush", "console", "kerb", "dog",
                "bench", "glass")
SURFACES = ("asphalt", "track", "gravel", "grass")
FAULT_TYPES = ("unplugged", "stuck", "blinded")
LEVEL_NAMES = ("clear", "notice", "warning", "stop", "fault")
# Optional numeric fields of an object (sim/world.py reads them with float()).
_OBJECT_NUMBERS = ("y_m", "radius_m", "vx_mps", "vy_mps", "start_s", "length_m", "width_m",
                   "echo", "reflectivity", "height_m", "bottom_m", "angle_deg")

# Defaults of the alert.* config keys (the schema lives in retrofw/settings.py).
DEFAULT_CONFIG = {
    "mode": "outdoor", "notice_m": 4.0, "warning_m": 2.5, "stop_m": 1.2, "ttc_warning_s": 2.5,
    "ttc_stop_s": 1.5, "hysteresis_m": 0.3, "fault_timeout_ms": 500, "treadmill_min_m": 0.5,
}


@dataclass
class Scenario:
    name: str
    description: str
    seed: int
    duration_s: float
    runner: dict
    objects: list[dict]
    sensor: dict
    config: dict
    expect: dict
    physics_limited: bool = False
    physics_reason: str = ""
    tick_ms: int = 20
    device: dict = field(default_factory=dict)  # virtual board only: {"button_presses_s": [...]}
    path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.sensor["kind"]


def _need(data: dict, key: str, where: str, kind=None):
    if key not in data:
        raise RetrorunError(f"{where}: missing key '{key}'; see docs/scenarios.md")
    value = data[key]
    if kind is not None and not isinstance(value, kind):
        raise RetrorunError(f"{where}: '{key}' has the wrong type; see docs/scenarios.md")
    return value


def _section(data: dict, key: str, where: str, kind, default):
    """An optional key of type `kind` (dict or list), or `default` when it is absent."""
    value = data.get(key, default)
    if not isinstance(value, kind):
        noun = "a JSON object" if kind is dict else "a JSON list"
        raise RetrorunError(f"{where}: '{key}' must be {noun}; see docs/scenarios.md")
    return value


def _number(data: dict, key: str, where: str, default, kind=(int, float)):
    """An optional number (bools are not numbers here), or `default` when it is absent."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, kind):
        noun = "an integer" if kind is int else "a number"
        raise RetrorunError(f"{where}: '{key}' must be {noun}; see docs/scenarios.md")
    return value


def parse(data: dict, where: str = "scenario") -> Scenario:
    """Validate a scenario dict; raise RetrorunError naming the first problem."""
    if not isinstance(data, dict):
        raise RetrorunError(f"{where}: a scenario is a JSON object; see docs/scenarios.md")
    name = str(data.get("name") or where)
    duration = float(_need(data, "duration_s", where, (int, float)))
    if not 0 < duration <= 1800:
        raise RetrorunError(f"{where}: duration_s must be in (0, 1800]")
    runner = dict(_need(data, "runner", where, dict))
    runner.setdefault("start_mps", 0.0)
    runner.setdefault("segments", [])
    runner.setdefault("sway_m", 0.0)
    runner.setdefault("sway_period_s", 0.36)
    for key in ("start_mps", "sway_m", "sway_period_s"):
        _number(runner, key, f"{where}: runner", None)
    for key in ("slope_deg", "pitch_deg"):
        if key in runner:
            _number(runner, key, f"{where}: runner", None)
    if abs(runner.get("slope_deg", 0.0)) > 20:
        raise RetrorunError(f"{where}: runner.slope_deg must be within +-20 degrees")
    if runner.get("cadence_spm") is not None:  # null: from the speed
        _number(runner, "cadence_spm", f"{where}: runner", None)
    for i, seg in enumerate(_section(runner, "segments", f"{where}: runner", list, [])):
        w = f"{where}: runner.segments[{i}]"
        if not isinstance(seg, dict) or "duration_s" not in seg:
            raise RetrorunError(f"{w}: needs duration_s (and to_mps to change speed)")
        if _number(seg, "duration_s", w, None) <= 0:
            raise RetrorunError(f"{w}: duration_s must be > 0")
        if "to_mps" in seg:
            _number(seg, "to_mps", w, None)
    objects = list(_section(data, "objects", where, list, []))
    for i, obj in enumerate(objects):
        w = f"{where}: objects[{i}]"
        if not isinstance(obj, dict) or obj.get("type") not in OBJECT_TYPES:
            raise RetrorunError(f"{w}: type must be one of {', '.join(OBJECT_TYPES)}")
        _need(obj, "x_m", w, (int, float))
        for key in _OBJECT_NUMBERS:
            if key in obj:
                _number(obj, key, w, None)
        if obj.get("height_m", 1.0) <= obj.get("bottom_m", 0.0):
            raise RetrorunError(f"{w}: height_m must be above bottom_m")
    sensor = dict(_need(data, "sensor", where, dict))
    if sensor.get("kind") not in DISTANCE_KINDS:
        raise RetrorunError(f"{where}: sensor.kind must be one of {', '.join(DISTANCE_KINDS)}")
    for i, fault in enumerate(_section(sensor, "faults", f"{where}: sensor", list, [])):
        if not isinstance(fault, dict) or fault.get("type") not in FAULT_TYPES or "at_s" not in fault:
            raise RetrorunError(f"{where}: sensor.faults[{i}] needs type "
                                f"({', '.join(FAULT_TYPES)}) and at_s")
        for key in ("at_s", "duration_s"):
            if key in fault:
                _number(fault, key, f"{where}: sensor.faults[{i}]", None)
    for key in ("height_m", "tilt_deg", "sunlight", "noise_level", "roi", "dropout_burst",
                "large_beam_deg"):
        if key in sensor:
            _number(sensor, key, f"{where}: sensor", None)
    if sensor.get("surface", "asphalt") not in SURFACES:
        raise RetrorunError(f"{where}: sensor.surface must be one of {', '.join(SURFACES)}")
    if sensor.get("dropout_burst", 1) < 1:
        raise RetrorunError(f"{where}: sensor.dropout_burst must be >= 1 reading")
    config = dict(DEFAULT_CONFIG)
    config.update(_section(data, "config", where, dict, {}))
    if config["mode"] not in MODES:
        raise RetrorunError(f"{where}: config.mode must be one of {', '.join(MODES)}")
    unknown = set(config) - set(DEFAULT_CONFIG)
    if unknown:
        raise RetrorunError(f"{where}: unknown config keys {sorted(unknown)}")
    for key in set(DEFAULT_CONFIG) - {"mode"}:
        _number(config, key, f"{where}: config", None)
    expect = dict(_section(data, "expect", where, dict, {}))
    for key in ("max_level", "min_level"):
        if key in expect and expect[key] not in LEVEL_NAMES:
            raise RetrorunError(f"{where}: expect.{key} must be one of {', '.join(LEVEL_NAMES)}")
    device = dict(_section(data, "device", where, dict, {}))
    presses = device.get("button_presses_s", [])
    if not isinstance(presses, list) or not all(
            isinstance(t, (int, float)) and 0 <= t <= duration for t in presses):
        raise RetrorunError(f"{where}: device.button_presses_s must be a list of times within "
                            "duration_s")
    limited = data.get("physics_limited", False)
    reason = str(data.get("physics_reason", ""))
    if limited and not reason:
        raise RetrorunError(f"{where}: physics_limited needs physics_reason (why no sensor of "
                            "this kind can warn in time)")
    seed = _number(data, "seed", where, 1, int)
    tick_ms = _number(data, "tick_ms", where, 20, int)
    if not 1 <= tick_ms <= 1000:
        raise RetrorunError(f"{where}: tick_ms must be in 1-1000; see docs/scenarios.md")
    return Scenario(name=name, description=str(data.get("description", "")),
                    seed=seed, duration_s=duration, runner=runner,
                    objects=objects, sensor=sensor, config=config, expect=expect,
                    physics_limited=bool(limited), physics_reason=reason, device=device,
                    tick_ms=tick_ms)


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RetrorunError(f"scenario file {path} not found; the suite is in {SCENARIO_DIR}")
    except OSError as exc:
        raise RetrorunError(f"cannot read scenario file {path} ({exc.strerror}); give the path "
                            "of a scenario .json file") from exc
    except UnicodeDecodeError:
        raise RetrorunError(f"{path}: not a text file; a scenario is JSON (see "
                            "docs/scenarios.md)") from None
    except json.JSONDecodeError as exc:
        raise RetrorunError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})")
    scenario = parse(data, str(path.name))
    scenario.path = path
    return scenario


def suite() -> list[Path]:
    """The shipped scenario files, sorted by name."""
    return sorted(SCENARIO_DIR.glob("*.json"))
