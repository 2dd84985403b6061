"""One scenario on the deployed app: the virtual board runs main.py and the app's tasks.

The firmware is laid out as `retrorun flash` + `retrorun deploy` leave a board
(`vboard.deployed`), with the scenario's alert settings in /config.json and a board profile
whose distance sensor is the scenario's. The scenario is the board's world
(`vboard.world.ScenarioWorld` with the simulator's sensor model reading by reading): it drives the
chip models, which the app's drivers read over the board's buses. The button is pressed at the
start and after the end, so the app records a session. What comes out:

- the motor timeline: what the board's haptic output did (PWM duty of an ERM, or the DRV2605L
  model's drive), in scenario time;
- the alert levels: the app's own EV_ALERT records in the session file it wrote, placed in
  scenario time by the moment the app started the session (the button task's read of the
  released button, which the board records);
- the reduced-range signal: the app's EV_RANGE records (a = 1 reduced / 0 full again, b = the
  usable range in mm), placed the same way;
- the readings the sensor model produced (measurement times), for the latency split.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from retrorun.errors import RetrorunError

# The sensor kind of a scenario -> the board profile that wires it (boards/*.json), and for
# kinds without a profile of their own, the distance section on an esp32-devkitc.
_BOARD_OF_KIND = {"hcsr04": "esp32-devkitc", "vl53l1x": "esp32-s3-devkitc-1",
                  "tfluna": "xiao-esp32s3", "uart_ultrasonic": "esp32-devkitc"}
_DISTANCE_OF_KIND = {"uart_ultrasonic": {"kind": "uart_ultrasonic", "mode": "auto",
                                         "uart": {"id": 2, "tx": 17, "rx": 16, "baud": 9600}}}
PRESS_AT_S = 0.1  # the runner presses the button once the board runs
PRESS_US = 150_000
REAL_TIMEOUT_S = 600.0


@dataclass
class BoardRun:
    levels: list[tuple[int, int, int, int, int]]  # (t_ms, level, reading, 0, 0)
    motor: list[tuple[int, int]]  # (t_ms, drive)
    measured: list[tuple[int, int | None]] = field(default_factory=list)  # sensor model: t_ms, mm
    console: str = ""
    ranges: list[tuple[int, int, int]] = field(default_factory=list)  # (t_ms, reduced, mm)
    notes: list[str] = field(default_factory=list)
    real_s: float = 0.0


def board_for(kind: str):
    """The Board (name, profile) that runs a scenario whose sensor is `kind`."""
    from retrorun.provision.boards import Board, get_board

    if kind not in _BOARD_OF_KIND:
        raise RetrorunError(f"no board profile wires a {kind} sensor; use one of "
                            + ", ".join(sorted(_BOARD_OF_KIND)))
    board = get_board(_BOARD_OF_KIND[kind])
    if kind in _DISTANCE_OF_KIND:
        profile = {**board.profile, "distance": _DISTANCE_OF_KIND[kind],
                   "name": f"{board.name}+{kind}"}
        board = Board(f"{board.name}+{kind}", board.path, profile, board.warnings)
    return board


def app_config(config: dict) -> dict:
    """A scenario's config (alert keys without the prefix) as the app's settings."""
    return {f"alert.{key}": value for key, value in config.items()}


def run_on_board(sc, end_ms: int) -> BoardRun:
    """Run the deployed app through scenario `sc` (a `Scenario`) for `end_ms` of its time."""
    from retrorun.devtools.vboard.deployed import board_folder
    from retrorun.devtools.vboard.flash import Flash
    from retrorun.devtools.vboard.repl import AppDevice
    from retrorun.devtools.vboard.world import ScenarioWorld

    kind = sc.sensor["kind"]
    board = board_for(kind)
    scenario = _with_presses(sc, end_ms)
    work = Path(tempfile.mkdtemp(prefix="retrorun-sim-"))
    console = bytearray()
    lock = threading.Lock()

    def write(data: bytes) -> None:
        with lock:
            console.extend(data)

    try:
        fs, flash_path = board_folder(board, work, config=app_config(sc.config))
        world = ScenarioWorld(scenario, readings=True)
        button = board.profile["button"]["pin"]
        flash = Flash(flash_path)
        start = time.monotonic()
        dev = AppDevice(fs, write, scenario=world, board=board.profile, flash=flash,
                        rom_log=False, boot=False)
        dev.hw.read_log[button] = []
        dev.reset(hard=True)
        stop_us = world.t0_us + (end_ms + 500) * 1000
        try:
            while not _session_closed(fs) or dev.hw.now_us < stop_us:
                if time.monotonic() - start > REAL_TIMEOUT_S or dev.dead:
                    raise RetrorunError(f"{sc.name}: the app on the virtual board did not finish "
                                        f"the scenario; console: {_tail(console)}")
                time.sleep(0.02)
        finally:
            dev.close()
            flash.close()
        real_s = time.monotonic() - start
        hw = dev.hw
        t0_us = world.t0_us
        motor = _motor_timeline(hw, board.profile, t0_us)
        events = _events(fs, hw.read_log[button], t0_us + int(PRESS_AT_S * 1e6) + PRESS_US,
                         t0_us, end_ms)
        levels = [(t, a, b, 0, 0) for kind, t, a, b in events if kind == "alert"]
        ranges = [(t, a, b) for kind, t, a, b in events if kind == "range"]
        return BoardRun(levels=levels, ranges=ranges, motor=[m for m in motor if m[0] <= end_ms],
                        measured=[(t, v) for t, v in world.measured if t <= end_ms],
                        console=bytes(console).decode("utf-8", "replace"),
                        notes=list(hw.notes), real_s=real_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _with_presses(sc, end_ms: int):
    """The scenario with the button pressed to start a session and again after its end."""
    import copy

    scenario = copy.copy(sc)
    scenario.device = {**sc.device, "button_presses_s": [PRESS_AT_S, end_ms / 1000 + 0.2]}
    return scenario


def _session_closed(fs: Path) -> bool:
    from retrofw import logfmt

    files = sorted((fs / "sessions").glob("*.rrl")) if (fs / "sessions").is_dir() else []
    if not files:
        return False
    data = files[-1].read_bytes()
    return logfmt.is_footer_at_end(data, len(data))


def _tail(console: bytearray) -> str:
    return bytes(console[-300:]).decode("utf-8", "replace").replace("\r\n", " | ")


def _motor_timeline(hw, profile: dict, t0_us: int) -> list[tuple[int, int]]:
    """(scenario ms, drive) at every change of the haptic output."""
    haptic = profile["haptic"]
    points: list[tuple[int, int]] = []
    if haptic["kind"] == "erm_pwm":
        points = [(t, duty) for t, _pin, _freq, duty in hw.haptic_timeline(haptic["pin"])]
    else:  # a DRV2605L: what its model drives the actuator with
        bus = hw.i2c.get(profile.get("i2c", {}).get("id", 0))
        model = bus.devices.get(haptic["address"]) if bus is not None else None
        for t, what, value in getattr(model, "timeline", []):
            points.append((t, 0 if what == "off" else value))
    out: list[tuple[int, int]] = []
    for t_us, drive in points:
        t_ms = (t_us - t0_us) // 1000
        if out and out[-1][0] == t_ms:
            out[-1] = (t_ms, drive)
        elif not out or out[-1][1] != drive:
            out.append((t_ms, drive))
    return out


def _events(fs: Path, button_reads: list[int], released_us: int, t0_us: int,
            end_ms: int) -> list[tuple[str, int, int, int]]:
    """The app's alert level changes and reduced-range records from its session file:
    ("alert" | "range", scenario ms, a, b)."""
    from retrofw import wire
    from retrorun.sessions.logs import decode_file

    files = sorted((fs / "sessions").glob("*.rrl")) if (fs / "sessions").is_dir() else []
    start_us = next((t for t in button_reads if t >= released_us), None)
    if not files or start_us is None:
        return []
    names = {wire.EV_NAMES[wire.EV_ALERT]: "alert"}
    ev_range = getattr(wire, "EV_RANGE", None)
    if ev_range is not None and ev_range < len(wire.EV_NAMES):
        names[wire.EV_NAMES[ev_range]] = "range"
    out = []
    for r in decode_file(files[0]).records:
        kind = names.get(r.get("event")) if r.get("kind") == "event" else None
        if kind is None:
            continue
        t_ms = (start_us - t0_us) // 1000 + r["t_ms"]
        if t_ms <= end_ms:
            out.append((kind, t_ms, r.get("a", 0), r.get("b", 0)))
    return out
