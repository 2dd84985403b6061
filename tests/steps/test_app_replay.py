"""The app's IMU task on the virtual board, fed a real recording through the MPU-6050 model.

The step evaluator calls the counter directly (it evaluates the algorithm); this checks the app
around it: the driver's FIFO reads, the IMU task's batching and time stamps, the session log.
Oracles: the recording's ground-truth step count, and the counter run directly on the same
recording at the device rate.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from retrofw import logfmt
from retrorun.devtools.steps_eval import count, load_recording, resample
from retrorun.devtools.vboard.deployed import board_folder
from retrorun.devtools.vboard.flash import Flash
from retrorun.devtools.vboard.repl import AppDevice
from retrorun.devtools.vboard.world import RecordingWorld
from retrorun.provision.boards import get_board
from retrorun.sessions.logs import decode_file

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "steps" / "dev"
pytestmark = pytest.mark.slow


def _footer_steps(fs: Path) -> int | None:
    files = sorted((fs / "sessions").glob("*.rrl"))
    if not files:
        return None
    data = files[-1].read_bytes()
    if not logfmt.is_footer_at_end(data, len(data)):
        return None
    return next(r["steps"] for r in decode_file(files[-1]).records if r["kind"] == "footer")


@pytest.mark.parametrize("name", ["ipol-1-3", "ipol-2-2"])
def test_the_app_counts_a_replayed_walk(tmp_path, name):
    if not (DEV / f"{name}.csv.gz").exists():
        pytest.skip(f"{DEV} is not here")
    rec = load_recording(DEV / f"{name}.csv.gz")
    board = get_board("esp32-devkitc")
    fs, flash_path = board_folder(board, tmp_path)
    world = RecordingWorld(rec, start_s=1.0)
    flash = Flash(flash_path)
    dev = AppDevice(fs, lambda data: None, scenario=world, board=board.profile, flash=flash)
    button = board.profile["button"]["pin"]
    try:
        hw = dev.hw
        with hw.lock:  # start the session before the walk, stop it after
            hw.press_button(button, 500_000, 150_000)
            hw.press_button(button, int((world.end_s + 1.0) * 1e6), 150_000)
        deadline = time.monotonic() + 300
        steps = None
        while steps is None and time.monotonic() < deadline:
            time.sleep(0.05)
            steps = _footer_steps(fs)
    finally:
        dev.close()
        flash.close()
    assert steps is not None, "the app did not close its session"
    rate = 50  # steps.rate_hz default: what the app's MPU-6050 delivers
    direct = count([resample(rec, rate)], rate, runtime="cpython")[0][0]
    print(f"{name}: app {steps} steps, counter alone {direct}, truth {rec.truth}")
    assert abs(steps - direct) <= 2, (steps, direct)
    assert abs(steps - rec.truth) <= max(3, 0.1 * rec.truth), (steps, rec.truth)
