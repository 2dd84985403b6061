"""Evaluate the firmware step counter against recordings with ground truth.

The recordings are in the common format of `shared/data/steps` (see docs/steps.md): `NAME.csv.gz`
(header `t,ax,ay,az`, seconds and m/s^2 with gravity) beside `NAME.json` (`steps`, `step_times`
or null, `rate_hz`, ...). Each recording is resampled to the device rate the way an IMU would
deliver it (anti-alias box filter, then one sample every 1/rate s, in integer milli-g clamped to
+-16 g), written as little-endian int16 triplets, and fed to the FIRMWARE step counter
(`retrofw.steps.StepCounter`): in real MicroPython by default (one VM run per recording, the
samples read from a binary file on the mounted device folder) or in CPython. Both runtimes run
the same driver loop (`DRIVER` below) and must give identical counts and step times.
"""

from __future__ import annotations

import gzip
import json
import math
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from retrorun.devtools.steps_cv import CV_MODES, TUNING, cross_validate, folds, grid
from retrorun.devtools.steps_score import match_times, report, rows_of, vs_forward
from retrorun.errors import RetrorunError

__all__ = ["CV_MODES", "RUNTIMES", "evaluate", "folds", "grid", "group_of", "load_dir",
           "load_recording", "match_times", "resample", "reverse_samples"]

G_MS2 = 9.80665
MG_LIMIT = 16000
RUNTIMES = ("micropython", "cpython")

# The loop that feeds a sample file to the counter. Runs unchanged in MicroPython and CPython.
DRIVER = """
from array import array
from retrofw.steps import StepCounter

def count_file(path, rate, params):
    counter = StepCounter(rate, **params)
    update = counter.update
    buf = array('h', bytes(6 * 128))
    times = []
    idx = 0
    with open(path, 'rb') as f:
        while True:
            nbytes = f.readinto(buf)
            if not nbytes:
                break
            end = nbytes // 2
            i = 0
            while i < end:
                got = update(idx * 1000 // rate, buf[i], buf[i + 1], buf[i + 2])
                if got:
                    back = got - 1
                    while back >= 0:
                        times.append(counter.step_time(back))
                        back -= 1
                i += 3
                idx += 1
    got = counter.finish()
    back = got - 1
    while back >= 0:
        times.append(counter.step_time(back))
        back -= 1
    return counter.steps, times
"""


@dataclass
class Recording:
    name: str
    truth: int
    step_times: list[float] | None
    t: list[float]
    acc: list[tuple[float, float, float]]
    meta: dict = field(default_factory=dict)

    @property
    def group(self) -> str:
        return group_of(self.name)


def group_of(name: str) -> str:
    """Dataset prefix: 'ipol-1-1' -> 'ipol', 'alcantara-run00' -> 'alcantara-run'."""
    head, sep, tail = name.partition("-")
    if not sep:
        return name
    if head == "alcantara":
        return head + "-" + tail.rstrip("0123456789")
    return head


def load_recording(csv_path: Path) -> Recording:
    name = csv_path.name[: -len(".csv.gz")]
    meta_path = csv_path.with_name(name + ".json")
    try:
        meta = json.loads(meta_path.read_text())
        truth = int(meta["steps"])
    except (OSError, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise RetrorunError(f"{meta_path}: cannot read the ground truth ({exc}); each NAME.csv.gz "
                            "needs a NAME.json with an integer 'steps'")
    if truth < 0 or truth != meta["steps"]:
        raise RetrorunError(f"{meta_path}: 'steps' is {meta['steps']!r}; give the counted steps "
                            "as a whole number >= 0")
    t: list[float] = []
    acc: list[tuple[float, float, float]] = []
    try:
        with gzip.open(csv_path, "rt") as handle:
            header = handle.readline().strip()
            if header != "t,ax,ay,az":
                raise ValueError(f"header is {header!r}, expected 't,ax,ay,az'")
            for line in handle:
                if not line.strip():
                    continue
                a, b, c, d = (float(x) for x in line.split(","))
                if not all(math.isfinite(x) for x in (a, b, c, d)):
                    raise ValueError(f"line {len(t) + 2} holds a value that is not a finite number")
                if t and a < t[-1]:
                    raise ValueError(f"time goes backwards at line {len(t) + 2}")
                t.append(a)
                acc.append((b, c, d))
    except (OSError, ValueError, EOFError) as exc:
        raise RetrorunError(f"{csv_path}: not a readable recording ({exc}); see docs/steps.md "
                            "for the format")
    if len(t) < 2:
        raise RetrorunError(f"{csv_path}: fewer than two samples; remove it or fix it")
    times = meta.get("step_times")
    if times is not None and (not isinstance(times, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in times)):
        raise RetrorunError(f"{meta_path}: 'step_times' must be a list of times in seconds; "
                            "fix it or leave it out (see docs/steps.md)")
    return Recording(name, truth, list(times) if times is not None else None, t, acc, meta)


def load_dir(folder: Path) -> list[Recording]:
    folder = Path(folder)
    if not folder.is_dir():
        raise RetrorunError(f"{folder} is not a folder; give the folder holding NAME.csv.gz and "
                            "NAME.json pairs")
    files = sorted(folder.glob("*.csv.gz"))
    if not files:
        raise RetrorunError(f"no recordings (*.csv.gz) in {folder}; see docs/steps.md")
    return [load_recording(p) for p in files]


def resample(rec: Recording, rate_hz: int) -> bytes:
    """Samples at `rate_hz` as an IMU would give them: int16 mg triplets, little-endian.

    Linear interpolation onto a grid `k` times finer than the device rate (k = enough to cover
    the source rate), then the mean of each block of k (a box anti-alias filter, like the
    digital low-pass in front of an IMU's output data rate).
    """
    import numpy as np

    t = np.asarray(rec.t, dtype=float)
    acc = np.asarray(rec.acc, dtype=float)
    order = np.argsort(t, kind="stable")
    t, acc = t[order], acc[order]
    duration = t[-1] - t[0]
    src_rate = (len(t) - 1) / duration if duration > 0 else rate_hz
    k = max(1, int(np.ceil(src_rate / rate_hz)))
    n_out = int(np.floor(duration * rate_hz + 1e-9)) + 1
    step = 1.0 / (rate_hz * k)
    fine_t = t[0] + (np.arange(n_out * k) - (k - 1) / 2.0) * step
    fine = np.stack([np.interp(fine_t, t, acc[:, j]) for j in range(3)], axis=1)
    out = fine.reshape(n_out, k, 3).mean(axis=1)
    mg = np.clip(np.rint(out / G_MS2 * 1000.0), -MG_LIMIT, MG_LIMIT).astype("<i2")
    return mg.tobytes()


def reverse_samples(data: bytes) -> bytes:
    """The int16 triplets of `data` in reverse order: the recording played backward in time."""
    import numpy as np

    return np.frombuffer(data, dtype="<i2").reshape(-1, 3)[::-1].tobytes()


def _run_cpython(paths: list[Path], rate_hz: int, params: dict) -> list[tuple[int, list[int]]]:
    namespace: dict = {}
    exec(compile(DRIVER, "<steps driver>", "exec"), namespace)
    return [tuple(namespace["count_file"](str(p), rate_hz, params)) for p in paths]


def _run_micropython(paths: list[Path], rate_hz: int, root: Path, params: dict,
                     fuel: list[int] | None = None) -> list[tuple[int, list[int]]]:
    import json as _json

    from retrorun.devtools.mpy import MicroPython
    from retrorun.devtools.mpy.runtime import RESULT_MARKER, MicroPythonError

    mpy = MicroPython()
    out = []
    for path in paths:
        rel = "/" + path.relative_to(root).as_posix()
        code = (DRIVER + f"\nimport json\nresult = count_file({rel!r}, {int(rate_hz)}, "
                + f"{dict(params)!r})\nprint({RESULT_MARKER!r} + json.dumps(result))\n")
        res = mpy.run(code, fs=root)
        if res.exit_code != 0 or RESULT_MARKER not in res.stdout:
            raise MicroPythonError("the step counter failed in MicroPython: "
                                   + (res.stderr.strip() or res.stdout.strip() or "no output"),
                                   res.stdout, res.stderr)
        steps, times = _json.loads(res.stdout.rsplit(RESULT_MARKER, 1)[1])
        if fuel is not None:
            fuel.append(res.fuel_used)
        out.append((steps, times))
    return out


def count(samples: list[bytes], rate_hz: int, runtime: str = "micropython",
          progress: Callable[[int], None] | None = None,
          fuel: list[int] | None = None,
          params: dict | None = None) -> list[tuple[int, list[int]]]:
    """Run the firmware counter on each sample buffer; return (steps, step times in ms).

    `params`: keyword arguments of `StepCounter` (tuned parameters; none = its defaults).
    With `fuel` (a list) and MicroPython, the fuel of each run (whole script: VM start, file
    reads, the driver loop and the counter) is appended to it.
    """
    if runtime not in RUNTIMES:
        raise RetrorunError(f"unknown runtime {runtime!r}; use micropython or cpython")
    params = dict(params or {})
    results = []
    with tempfile.TemporaryDirectory(prefix="retrorun-steps-") as tmp:
        root = Path(tmp)
        for i, data in enumerate(samples):
            path = root / f"r{i}.bin"
            path.write_bytes(data)
            if runtime == "cpython":
                results.extend(_run_cpython([path], rate_hz, params))
            else:
                results.extend(_run_micropython([path], rate_hz, root, params, fuel))
            path.unlink()
            if progress:
                progress(i + 1)
    return results


def evaluate(folder: Path, rate_hz: int = 50, runtime: str = "micropython",
             progress: Callable[[int, int], None] | None = None,
             names: Iterable[str] | None = None, reverse: bool = False,
             cv: str | None = None, tuning: dict[str, Iterable] | None = None) -> dict:
    """Evaluate every recording of `folder` (or only `names`); return the JSON document.

    reverse: also play every recording backward in time (section `reverse`).
    cv: 'subject' or 'dataset': for each fold, choose the `tuning` values (default `TUNING`)
    that do best on the other folds, count the held-out fold with them (section `cv`).
    """
    if not 25 <= int(rate_hz) <= 100:
        raise RetrorunError(f"rate {rate_hz} Hz is outside 25-100 Hz; the device supports 25-100")
    if cv is not None and cv not in CV_MODES:
        raise RetrorunError(f"unknown --cv {cv!r}; use subject or dataset")
    tuning = dict(TUNING if tuning is None else tuning)
    recs = load_dir(folder)
    if names is not None:
        wanted = set(names)
        recs = [r for r in recs if r.name in wanted]
    started = time.perf_counter()
    samples = [resample(r, rate_hz) for r in recs]
    back = [reverse_samples(d) for d in samples] if reverse else []
    combos = grid(tuning) if cv else [{}]
    total = len(recs) * len(combos) * (2 if reverse else 1)
    done = [0]

    def run(data: list[bytes], params: dict, fuel: list[int] | None = None):
        base = done[0]
        out = count(data, rate_hz, runtime, fuel=fuel, params=params,
                    progress=(lambda i: progress(base + i, total)) if progress else None)
        done[0] += len(data)
        return out

    fuel: list[int] = []
    forward = run(samples, {}, fuel)
    backward = run(back, {}) if reverse else None
    elapsed = time.perf_counter() - started
    rows = rows_of(recs, forward, samples, rate_hz, False)
    summary = report(recs, rows)
    n_samples = sum(len(d) // 6 for d in samples)
    summary["samples"] = n_samples
    if fuel:
        # whole-run fuel (VM start, file reads, driver loop, counter) per sample
        summary["fuel_per_sample"] = round(sum(fuel) / max(1, n_samples))
    doc = {
        "rate_hz": int(rate_hz),
        "runtime": runtime,
        "seconds": round(elapsed, 2),
        "files": rows,
        "summary": summary,
    }
    if reverse:
        rrows = rows_of(recs, backward, samples, rate_hz, True)
        for row, frow in zip(rrows, rows, strict=True):
            row["forward_counted"] = frow["counted"]
        rsummary = report(recs, rrows)
        vs_forward(rsummary, summary)
        doc["reverse"] = {"files": rrows, "summary": rsummary}
    if cv:
        doc["cv"] = cross_validate(recs, samples, back, rate_hz, cv, tuning, combos, forward,
                                   backward, run)
    doc["seconds"] = round(time.perf_counter() - started, 2)
    return doc
