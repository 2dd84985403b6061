"""Session log files on the laptop: decode, salvage, check, and synthetic runs for benchmarks.

The decoder (`retrorun.sessions.logdecode`) uses the firmware's own frame checker, so the host reads
exactly what the device writes. Every valid record is decoded whatever damage surrounds it;
damage is reported as problems (damaged regions, a torn tail) rather than raised, so callers
salvage what is good.

`synthetic_run` is a runner's session driven through the device's SessionWriter. It is written
in the subset MicroPython runs: `run_synthetic_in_micropython` sends its source to real
MicroPython (the golden session and `retrorun bench logs` come from there).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

from retrofw import wire
from retrorun.errors import RetrorunError
from retrorun.sessions import logdecode


@dataclass
class Decoded:
    """A decoded session file: records (dicts with "kind"), problems, and the file size."""

    records: list[dict]
    problems: list[dict]
    size: int
    frames: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def damaged(self) -> bool:
        return bool(self.problems)

    def problem_line(self) -> str:
        """One line naming the damage, for the CLI's error message."""
        damaged = [p for p in self.problems if p["problem"] == "damaged"]
        torn = [p for p in self.problems if p["problem"] == "torn_tail"]
        other = [p for p in self.problems if p["problem"] not in ("damaged", "torn_tail")]
        parts = []
        if other:
            parts.append(other[0]["message"])
        if damaged:
            parts.append(f"{len(damaged)} damaged region(s), "
                         f"{sum(p['length'] for p in damaged)} bytes, first at offset "
                         f"{damaged[0]['offset']}")
        if torn:
            parts.append(f"torn tail of {torn[0]['length']} bytes at offset "
                         f"{torn[0]['offset']}")
        return "; ".join(parts)


def not_a_log(path: str | Path, decoded: Decoded) -> str | None:
    """Why a file is not a retrorun session log at all (empty, or not one valid frame: a PNG,
    random bytes), or None. A log whose every frame is damaged cannot be told from these."""
    if decoded.frames:
        return None
    if not decoded.size:
        return (f"{path} is empty: not a retrorun session log; give a session .rrl file (the "
                "device keeps them in /sessions)")
    return (f"{path} is not a retrorun session log (no valid log frame in its {decoded.size} "
            f"bytes; a session starts with a header frame, bytes 0x{wire.LOG_SYNC:02X} "
            f"0x{wire.REC_HEADER:02X}); give a session .rrl file (the device keeps them in "
            "/sessions)")


def read_session_file(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise RetrorunError(f"{path}: no such file; give the path of a session .rrl file")
    except OSError as exc:
        raise RetrorunError(f"{path}: cannot read it ({exc.strerror}); check the path") from exc


def decode_bytes(data: bytes) -> Decoded:
    """Decode a session file's bytes (never raises on damage)."""
    records, problems = logdecode.decode(data)
    frames = len({r["offset"] for r in records})
    by_kind: dict[str, int] = {}
    for r in records:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + 1
    return Decoded(records, problems, len(data), frames, by_kind)


def decode_file(path: str | Path) -> Decoded:
    return decode_bytes(read_session_file(path))


def salvage(data: bytes) -> bytes:
    """The valid frames of a damaged file, back to back: a clean file with every good record
    (damaged regions and a torn tail left out)."""
    offsets = sorted({r["offset"] for r in logdecode.decode(data)[0]})
    return b"".join(data[o:o + data[o + 2] + wire.LOG_FRAME_OVERHEAD] for o in offsets)


def check_report(decoded: Decoded) -> dict:
    """The `logs check` report: good records, torn tail, damaged regions, completeness."""
    footer = next((r for r in reversed(decoded.records) if r["kind"] == "footer"), None)
    header = next((r for r in decoded.records if r["kind"] == "header"), None)
    damaged = [{"offset": p["offset"], "length": p["length"]}
               for p in decoded.problems if p["problem"] == "damaged"]
    torn = next(({"offset": p["offset"], "length": p["length"]}
                 for p in decoded.problems if p["problem"] == "torn_tail"), None)
    bad_bytes = sum(p["length"] for p in decoded.problems)
    return {
        "ok": not decoded.problems,
        "bytes": decoded.size,
        "good_bytes": decoded.size - bad_bytes,
        "frames": decoded.frames,
        "records": len(decoded.records),
        "by_kind": decoded.by_kind,
        "session_id": header["session_id"] if header else None,
        "has_header": header is not None,
        "complete": footer is not None,
        "recovered": bool(footer and footer["recovered"]),
        "damaged": damaged,
        "torn_tail": torn,
        "problems": [p["message"] for p in decoded.problems],
    }


def describe_record(r: dict) -> str:
    """One human-readable line for a record."""
    t = "%9.3fs" % (r["t_ms"] / 1000) if "t_ms" in r else " " * 10
    kind = r["kind"]
    if kind == "sample":
        return (f"{t} sample   distance {_distance(r['distance_mm'])}, alert {_alert_name(r['alert'])}, steps "
                f"{r['steps']}, cadence {r['cadence']}/min, trunk {r['trunk_deg10'] / 10:.1f} deg")
    if kind == "event":
        extra = ", ".join(f"{k} {v}" for k, v in r.items()
                          if k not in ("kind", "offset", "t_ms", "event", "type", "a", "b"))
        if r["event"] == "alert":
            extra = f"level {_alert_name(r['level'])}, distance {_distance(r['distance_mm'])}"
        elif r["event"] == "sensor":
            extra = ("fault " + _code_name(r["code"])) if r["active"] else "cleared"
        return f"{t} event    {r['event']}: {extra}"
    if kind == "snapshot":
        dist = r["distances_mm"]
        valid = [d for d in dist if d >= 0]
        span = f", {min(valid)}..{max(valid)} mm" if valid else ""
        return (f"{t} snapshot part {r['part']}, level {_alert_name(r['level'])}, "
                f"{len(dist)} readings every {r['period_ms']} ms{span}")
    if kind == "header":
        return (f"{' ' * 10} header   session {r['session_id']}, format v{r['version']}, "
                f"firmware {r['firmware']}, board {r['board'] or '?'}, config hash "
                f"{r['config_hash']:08x}, sample period {r['sample_period_ms']} ms")
    a = r["alerts"]
    return (f"{' ' * 10} footer   {r['duration_ms'] / 1000:.1f} s, {r['steps']} steps, max "
            f"cadence {r['max_cadence']}/min, alerts {a['notice']}/{a['warning']}/{a['stop']}/"
            f"{a['fault']} (notice/warning/stop/fault), min distance "
            f"{r['min_distance_mm']} mm, {r['faults']} sensor faults"
            + (", RECOVERED after a cut" if r["recovered"] else "")
            + (", storage was full" if r["storage_full"] else ""))


def _alert_name(level: int) -> str:
    return wire.ALERT_NAMES[level] if 0 <= level < len(wire.ALERT_NAMES) else str(level)


def _distance(d: int) -> str:
    return f"{d} mm" if d >= 0 else _code_name(d)


def _code_name(code: int) -> str:
    if -len(wire.SENSOR_FAULT_NAMES) < code < 0:
        return wire.SENSOR_FAULT_NAMES[-code]
    return str(code)


# ---------------------------------------------------------------------------------------------
# A synthetic run through the device's SessionWriter (runs in MicroPython and CPython).
# ---------------------------------------------------------------------------------------------
def synthetic_run(store, wire, root, seconds, seed, free_kb, snapshot_hz=50, board="synthetic"):
    """Record a backward run of `seconds` at default settings: 1 s samples, an obstacle
    approach every 2 minutes (notice, warning, sometimes stop, with a snapshot of 3 s at
    `snapshot_hz`), a sensor blackout every 10 minutes, a battery report every 5 minutes and
    button presses at start and end. Deterministic for a seed. Returns the closed writer."""
    state = [seed % 65537 or 1]

    def rnd(n):  # small-int LCG (ZX81): no `random` in the WASI build, no big ints
        state[0] = (state[0] * 75 + 74) % 65537
        return state[0] % n

    t0 = 100000
    w = store.SessionWriter(root=root, now_ms=t0, config_hash=0x5EED0000 + (seed & 0xFFFF),
                            board=board, free_kb=free_kb, start_unix=0)
    w.event(t0, wire.EV_BOOT, 0, 0)
    w.event(t0 + 200, wire.EV_BUTTON, 1, 0)
    steps = 0
    frac = 0
    level = 0
    period = 1000 // snapshot_hz
    readings = [0] * (3 * snapshot_hz)
    for s in range(seconds):
        now = t0 + 1000 * s + rnd(7)
        cadence = 168 + rnd(15)
        frac += cadence
        steps += frac // 60
        frac %= 60
        phase = s % 120
        fault = (s % 600) in (300, 301)
        if fault:
            dist = wire.SENSOR_TIMEOUT
        elif 60 <= phase < 70:
            dist = 6000 - (phase - 60) * (550 + rnd(100))
        else:
            dist = wire.NO_READING if rnd(3) else 7000 + rnd(900)
        if fault:
            new = wire.ALERT_FAULT
        elif 0 <= dist < 1200:
            new = wire.ALERT_STOP
        elif 0 <= dist < 2500:
            new = wire.ALERT_WARNING
        elif 0 <= dist < 4000:
            new = wire.ALERT_NOTICE
        else:
            new = wire.ALERT_CLEAR
        if fault and level != wire.ALERT_FAULT:
            w.event(now, wire.EV_SENSOR, 1, dist)
        if level == wire.ALERT_FAULT and not fault:
            w.event(now, wire.EV_SENSOR, 0, 0)
        if new != level:
            w.event(now, wire.EV_ALERT, new, dist)
            if new == wire.ALERT_WARNING and level < new:
                for i in range(len(readings)):
                    readings[i] = dist + (len(readings) // 2 - i) * 550 // snapshot_hz + rnd(30)
                w.snapshot(now - 1500, period, new, readings, 0, len(readings))
            level = new
        if s % 300 == 150:
            w.event(now, wire.EV_BATTERY, 90 - s // 400, 4100 - s // 10)
        w.sample(now, dist, level, steps, cadence, 80 + rnd(120) - 40)
    end = t0 + 1000 * seconds
    w.event(end, wire.EV_BUTTON, 2, 0)
    w.close(end + 100)
    return w


def synthetic_run_source() -> str:
    return inspect.getsource(synthetic_run)


# The WASI MicroPython's garbage collector does not see frames held only in wasm locals and
# can free a running function's frame; a heap this large means it never runs in these jobs.


def run_synthetic_in_micropython(fs: Path, seconds: int, seed: int, *, snapshot_hz: int = 50,
                                 board: str = "synthetic", mpy=None) -> Path:
    """Run synthetic_run in real MicroPython with `fs` as the device's `/`; return the file."""
    from retrorun.devtools.mpy import NO_GC_HEAP_KB, MicroPython

    mpy = mpy or MicroPython()
    code = ("from retrofw import store, wire\n" + synthetic_run_source()
            + f"\nw = synthetic_run(store, wire, '/', {int(seconds)}, {int(seed)}, "
            f"lambda: 100000, {int(snapshot_hz)}, {board!r})\n"
            "result = w.session_id\n")
    sid = mpy.eval(code, fs=fs, heap_kb=NO_GC_HEAP_KB)
    return Path(fs) / "sessions" / f"{sid:06d}{wire.LOG_FILE_SUFFIX}"
