"""`retrorun bench logs [--json]`: session log density and encode cost, measured in MicroPython.

- bytes_per_hour: the device's SessionWriter records a synthetic hour at default settings
  (1 s samples, an obstacle approach every 2 minutes with a 3 s snapshot at 50 Hz, a sensor
  blackout every 10 minutes, battery reports) in real MicroPython; the file size is the figure.
  The budget is 40,000 bytes per hour (a 4 MB board holds 50+ hours).
- encode cost per record kind: heap bytes allocated (gc.mem_alloc delta) and wasmtime fuel
  (executed WebAssembly instructions, deterministic) of one call in MicroPython.
- api_read: the hour read back through retrofw.api.read() in 4 KB chunks; payload/wire is the
  share of the printed bytes that is session data (header lines and escapes are the rest).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from retrorun.cli import output
from retrorun.devtools.mpy import NO_GC_HEAP_KB
from retrorun.errors import RetrorunError
from retrorun.sessions import logs

BUDGET_BYTES_PER_HOUR = 40000

_COST = r"""
from retrofw import store, wire
w = store.SessionWriter(root='/', now_ms=0, free_kb=lambda: 100000, board='bench')
w.flush_ms = 1 << 29  # no flush inside the measured calls
t = [1000]
def sample(d):
    t[0] += 1000
    w.sample(t[0], d, 1, t[0] // 400, 172, 85)
def event(d):
    w.event(t[0], wire.EV_ALERT, 2, d)
readings = [2400 - 13 * i for i in range(150)]
def snapshot(n):
    w.snapshot(t[0], 20, 2, readings, 0, n)
buf = bytearray(300)
from retrofw import logfmt
def header(x):
    logfmt.encode_header_into(buf, 0, 12, 0, 0x12345678, 1000, '0.1.0', 'bench')
def footer(x):
    logfmt.encode_footer_into(buf, 0, w.summary, 0)
costs = {}
sample(1500)
fuel = []
heap = []
for i in range(24):
    heap.append(mem_delta(sample, 1500 + i))
    w.n = 0
for i in range(24):
    fuel.append(fuel_of(sample, 1500 + i))
    w.n = 0
costs['sample'] = [max(heap), sorted(fuel)[len(fuel) // 2], max(fuel)]
for name, fn, arg in (('event', event, 900), ('snapshot_150', snapshot, 150),
                      ('header', header, 0), ('footer', footer, 0)):
    h = mem_delta(fn, arg)
    w.n = 0
    f = fuel_of(fn, arg)
    w.n = 0
    costs[name] = [h, f, f]
result = costs
"""


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=int, default=3600,
                        help="length of the synthetic run (default one hour)")
    parser.add_argument("--snapshot-hz", type=int, default=50,
                        help="distance sensor rate recorded in snapshots (default 50)")


def measure(seconds: int = 3600, snapshot_hz: int = 50) -> dict:
    from retrorun.devtools.mpy import MicroPython

    if not 1 <= seconds <= 86400:
        raise RetrorunError(f"--seconds {seconds} is out of range; give 1-86400 (a day)")
    if not 1 <= snapshot_hz <= 1000:
        raise RetrorunError(f"--snapshot-hz {snapshot_hz} is out of range; give 1-1000")

    mpy = MicroPython()
    with tempfile.TemporaryDirectory() as tmp:
        path = logs.run_synthetic_in_micropython(Path(tmp), seconds, 1,
                                                 snapshot_hz=snapshot_hz, mpy=mpy)
        decoded = logs.decode_file(path)
        size = path.stat().st_size
        read = _read_efficiency(mpy, Path(tmp), path)
    with tempfile.TemporaryDirectory() as tmp:
        raw = mpy.eval(_COST, fs=tmp)
    cost = {}
    for name, (heap, fuel, fuel_max) in raw.items():
        cost[name] = {"heap_bytes": heap, "fuel": fuel}
        if name == "sample":
            cost[name]["fuel_block_seal"] = fuel_max
    bytes_per_hour = round(size * 3600 / seconds)
    return {
        "bytes_per_hour": bytes_per_hour,
        "budget_bytes_per_hour": BUDGET_BYTES_PER_HOUR,
        "within_budget": bytes_per_hour <= BUDGET_BYTES_PER_HOUR,
        "hours_per_mb": round(1_000_000 / bytes_per_hour, 1),
        "run": {"seconds": seconds, "file_bytes": size, "snapshot_hz": snapshot_hz,
                "sample_period_ms": 1000, "records": decoded.by_kind,
                "frames": decoded.frames, "damaged": decoded.damaged},
        "encode_cost": cost,
        "api_read": read,
    }


def _read_efficiency(mpy, fs: Path, path: Path) -> dict:
    """Read the whole session through retrofw.api.read() in MicroPython, 4 KB at a time, and
    compare the payload with the bytes the device printed (what the serial line carries)."""
    from retrofw import wire

    sid = int(path.stem)
    size = path.stat().st_size
    calls = "".join(f"api.read({sid}, {o}, {wire.API_READ_MAX})\n"
                    for o in range(0, size, wire.API_READ_MAX))
    out: list[bytes] = []
    res = mpy.run("import retrofw.api as api\napi.ROOT = '/'\n" + calls, fs=fs,
                  stdout=out.append, heap_kb=NO_GC_HEAP_KB)
    wire_bytes = len(b"".join(out)) if res.exit_code == 0 else 0
    return {"payload_bytes": size, "wire_bytes": wire_bytes, "chunk_bytes": wire.API_READ_MAX,
            "payload_per_wire": round(size / wire_bytes, 4) if wire_bytes else None}


def run(args) -> int:
    result = measure(args.seconds, args.snapshot_hz)
    if args.json:
        output.emit_json(result)
        return 0
    run_info = result["run"]
    output.console.print(
        f"log density: [bold]{result['bytes_per_hour']}[/] bytes/hour at default settings "
        f"(budget {BUDGET_BYTES_PER_HOUR}; {result['hours_per_mb']} hours per MB) from a "
        f"{run_info['seconds']} s synthetic run, {run_info['file_bytes']} bytes, "
        f"{run_info['frames']} records")
    read = result["api_read"]
    output.console.print(f"device API read(): {read['payload_bytes']} payload bytes in "
                         f"{read['wire_bytes']} bytes on the wire "
                         f"(payload/wire {read['payload_per_wire']})")
    output.table("Encode cost in MicroPython (one call)", ("record", "heap bytes", "fuel"),
                 [(name, c["heap_bytes"], c["fuel"]) for name, c in result["encode_cost"].items()])
    return 0
