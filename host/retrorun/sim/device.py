"""Run the firmware warning pipeline and pattern player in real MicroPython on virtual time.

One MicroPython run per scenario. The readings go to a binary file in a temporary folder
mounted as the device's `/` (struct "<ii": receive time ms, reading). The generated script
plays the app's two loops on virtual time, as `retrofw.app` does on the board:

- sensor loop: at each reading's receive time, `pipeline.update(t, reading)`;
- motor loop: every `tick_ms`, `level = pipeline.check(t)`, `player.set_level(level, t)`,
  `strength = player.update(t)`; the haptic driver would get `set(strength)` / `off()`.

It prints one line per event: `L,t,level,distance_mm,closing_mms,ttc_ms` when the level
changes, `M,t,strength` when the motor strength changes; and at the end the fuel spent in
`pipeline.update` (wasmtime instructions) over a sample of readings.
"""

from __future__ import annotations

import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

from retrorun.mpy import MicroPython
from retrorun.mpy.runtime import MicroPythonError

READING_FMT = "<ii"
READING_SIZE = struct.calcsize(READING_FMT)
FUEL_SAMPLE_EVERY = 7  # measure the fuel of every 7th update

_SCRIPT = """
import gc
import struct
from retrofw.alerts import Pipeline
from retrofw.haptics import PatternPlayer
p = Pipeline(**CONFIG)
pl = PatternPlayer()
TICK = TICK_MS
END = END_MS
CHUNK = 256
buf = bytearray(8 * CHUNK)
arg = [0, 0]
def upd(a):
    p.update(a[0], a[1])
state = [0, -1, 0]  # next tick, level, strength
def tick(now):
    lvl = p.check(now)
    if lvl != state[1]:
        state[1] = lvl
        print('L,%d,%d,%d,%d,%d' % (now, lvl, p.distance_mm, p.closing_mms, p.ttc_ms))
    pl.set_level(lvl, now)
    s = pl.update(now)
    if s != state[2]:
        state[2] = s
        print('M,%d,%d' % (now, s))
fuel_sum = 0
fuel_max = 0
fuel_n = 0
n = 0
f = open('/readings.bin', 'rb')
while True:
    got = f.readinto(buf)
    if not got:
        break
    for i in range(0, got, 8):
        t, v = struct.unpack_from('<ii', buf, i)
        while state[0] <= t:
            tick(state[0])
            state[0] += TICK
        arg[0] = t
        arg[1] = v
        n += 1
        if n % SAMPLE == 0:
            gc.collect()
            c = fuel_of(upd, arg)
            fuel_sum += c
            fuel_n += 1
            if c > fuel_max:
                fuel_max = c
        else:
            upd(arg)
f.close()
while state[0] <= END:
    tick(state[0])
    state[0] += TICK
print('F,%d,%d,%d' % (fuel_sum, fuel_n, fuel_max))
"""


@dataclass
class DeviceRun:
    levels: list[tuple[int, int, int, int, int]]  # (t_ms, level, distance, closing, ttc)
    motor: list[tuple[int, int]]  # (t_ms, strength)
    fuel_mean: float
    fuel_max: int
    fuel_total: int


def pipeline_kwargs(config: dict) -> dict:
    """Scenario config (alert.* keys without the prefix) -> Pipeline keyword arguments."""
    return {key: config[key] for key in ("mode", "notice_m", "warning_m", "stop_m",
                                         "ttc_warning_s", "ttc_stop_s", "hysteresis_m",
                                         "fault_timeout_ms", "treadmill_min_m")}


def run_pipeline(readings: list[tuple[int, int]], config: dict, end_ms: int, tick_ms: int = 20,
                 mpy: MicroPython | None = None) -> DeviceRun:
    """Feed `readings` through the firmware pipeline in MicroPython; return the timeline."""
    mpy = mpy or MicroPython()
    code = (_SCRIPT.replace("CONFIG", repr(pipeline_kwargs(config)))
            .replace("TICK_MS", str(int(tick_ms))).replace("END_MS", str(int(end_ms)))
            .replace("SAMPLE", str(FUEL_SAMPLE_EVERY)))
    with tempfile.TemporaryDirectory(prefix="retrorun-sim-") as tmp:
        data = b"".join(struct.pack(READING_FMT, t, v) for t, v in readings)
        (Path(tmp) / "readings.bin").write_bytes(data)
        res = mpy.run(code, fs=tmp)
    if res.exit_code != 0 or "\nF," not in "\n" + res.stdout:
        raise MicroPythonError("the pipeline failed in MicroPython: "
                               + (res.stderr.strip() or res.stdout[-500:]), res.stdout,
                               res.stderr)
    levels, motor = [], []
    fuel_sum = fuel_n = fuel_max = 0
    for line in res.stdout.splitlines():
        parts = line.split(",")
        if parts[0] == "L":
            levels.append(tuple(int(x) for x in parts[1:6]))
        elif parts[0] == "M":
            motor.append((int(parts[1]), int(parts[2])))
        elif parts[0] == "F":
            fuel_sum, fuel_n, fuel_max = (int(x) for x in parts[1:4])
    return DeviceRun(levels=levels, motor=motor,  # type: ignore[arg-type]
                     fuel_mean=fuel_sum / fuel_n if fuel_n else 0.0, fuel_max=fuel_max,
                     fuel_total=res.fuel_used)
