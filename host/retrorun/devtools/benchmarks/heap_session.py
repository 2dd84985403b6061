"""The app's heap high-water mark during a session, measured in MicroPython on the virtual board
(part of `retrorun bench heap`; `measure_session()`).

What runs: the firmware as `retrorun flash` and `retrorun deploy` leave it on a board (`layout`
"files": a stock MicroPython download, the modules as .mpy files in /lib; "romfs": a custom build
with ROMFS, the ROMFS image in the "romfs" partition; /boot.py, /board.json and /config.json on
the filesystem) on the virtual board: real MicroPython (the native Unix port, with its frozen
asyncio), the demo scenario's world (`retrorun demo`) driving the sensor and the IMU models. The
bench does what /main.py does (the safe-mode check, then the app's real `main()` as an asyncio
task) and presses the button to start a session.

How: the event loop runs in steps of `step_s` virtual seconds (`asyncio.run_until_complete` of a
task that sleeps that long, while the app's tasks run), each from a REPL job. Between steps a
`gc.collect()` runs and `gc.mem_alloc()` gives the live heap. `session_peak_bytes` is the
largest live heap seen minus the live heap before the app was imported (the VM and the virtual
board's stand-ins for `machine`, `time`, `os`, `esp32`; the frozen asyncio's code is in the
firmware image, as on a board).

32-bit figures: the native port is a 64-bit build, whose objects are ~1.9x an ESP32's, and the
32-bit WASI build has no asyncio package to run the app with. So the figure is converted with a
ratio measured on this firmware: the live heap of importing the app and its drivers on the
native port (`native_import_bytes`, here) over the same import on the 32-bit WASI build
(`retrorun.devtools.benchmarks.heap`, `in_place_code_bytes` or `code_bytes`). `session_peak_32bit_bytes`
is the peak divided by that ratio: an estimate, not a 32-bit measurement.

What the figure is: the peak of the sampled live heap. It does not see memory allocated and freed
again between two samples (a tick's temporaries; the per-tick paths allocate nothing, so that is
a console line or a log flush). Half-way, a configuration read is simulated (`retrofw.settings`
loaded, sampled, unloaded, as `retrofw.api` does): `config_op_bytes`. Bluetooth: the virtual
board has no `bluetooth` module, so the app runs with BLE off; `ble_code_bytes` of
`retrorun bench heap` says what the BLE modules add.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from pathlib import Path

from retrorun.errors import RetrorunError

STEP_S = 0.5

# Run as REPL jobs. `_hb_sample` keeps the top level small: it is one line of calls.
_SETUP = ("import gc, sys\n"
          "import machine, time, asyncio, os, esp32, micropython\n"
          "def _hb_sample():\n"
          "    gc.collect()\n"
          "    return gc.mem_alloc()\n"
          "async def _hb_pause(ms):\n"
          "    await asyncio.sleep_ms(ms)\n")
_SAMPLE = "print(_hb_sample())\n"
_START = ("from retrofw import parts\n"
          "if parts.safe_mode_requested():\n"
          "    raise SystemExit\n"
          "parts = None\n"
          "import retrofw.app as _hb_app\n"
          "_hb_task = asyncio.create_task(_hb_app.main())\n")


# While a config read or write runs, retrofw.api has the settings module loaded (it unloads it
# after): the live heap at that moment, with the app's session running.
_CONFIG_OP = ("from retrofw import settings as _hb_settings\n" + _SAMPLE
              + "_hb_settings = None\nfrom retrofw.unload import unload as _hb_unload\n"
              "_hb_unload('retrofw.settings')\n")


# The app's own per-tick work (retrofw.app: what each task does with what its driver read) run
# once more on the running app with the heap locked: the name of each that allocated.
_TICKS = """import micropython, time
_hb_A = _hb_app.App.current
_hb_now = time.ticks_ms()
def _hb_ranging():
    _hb_A.on_reading(_hb_now, _hb_A.reading)
def _hb_motor():
    _hb_A.motor_strength(_hb_now)
def _hb_imu():
    _hb_A.on_imu(_hb_now, 1)
def _hb_log():
    _hb_A.log_sample(_hb_now)
def _hb_locked(fn):
    fn()
    micropython.heap_lock()
    try:
        fn()
        return False
    except MemoryError:
        return True
    finally:
        micropython.heap_unlock()
_hb_alloc = []
for _hb_n, _hb_fn in (("ranging", _hb_ranging), ("motor", _hb_motor), ("imu", _hb_imu),
                      ("log_sample", _hb_log)):
    if _hb_locked(_hb_fn):
        _hb_alloc.append(_hb_n)
print("allocates:" + ",".join(_hb_alloc))
"""


def _last_int(out: bytes) -> int:
    """The number a job printed last (the app prints its own lines before it)."""
    return int(out.split()[-1])


def _step(seconds: float) -> str:
    return (f"asyncio.run_until_complete(asyncio.create_task(_hb_pause({round(seconds * 1000)})))\n"
            + _SAMPLE)


def measure_session(board_name: str = "esp32-devkitc", seconds: float = 30.0,
                    step_s: float = STEP_S, layout: str = "files",
                    static: dict | None = None) -> dict:
    """`static`: the figures of `retrorun.devtools.benchmarks.heap.measure` for the board (measured here
    when not given), whose 32-bit import figure gives the 64/32-bit ratio."""
    from retrorun.devtools.benchmarks.heap import app_modules, measure
    from retrorun.devtools.demo import DEMO_SCENARIO
    from retrorun.devtools.vboard.board import VirtualBoard
    from retrorun.devtools.vboard.deployed import board_folder
    from retrorun.link.serial_transport import SerialTransport
    from retrorun.provision.boards import get_board

    if not 1 <= seconds <= 3600 or not 0.05 <= step_s <= seconds:
        raise RetrorunError(f"--session-s {seconds} / step {step_s} out of range; give 1-3600 s")
    board = get_board(board_name)
    scenario = json.loads(DEMO_SCENARIO.read_text())
    scenario["device"]["button_presses_s"] = []  # pressed below, once the app runs
    work = Path(tempfile.mkdtemp(prefix="retrorun-bench-heap-session-"))
    fs, flash = board_folder(board, work, layout, main=False)
    vb = VirtualBoard(mode="app", listen="socket", fs_dir=fs, flash_path=flash,
                      scenario=scenario)
    server = threading.Thread(target=vb.serve_forever, daemon=True)
    server.start()
    try:
        with SerialTransport(vb.port, timeout=60) as link:
            link.exec(_SETUP)
            link.exec(_SAMPLE)  # settle: the first collection frees the boot's garbage
            baseline = _last_int(link.exec(_SAMPLE))
            imports = "".join(f"import {m}\n" for m in app_modules(board))
            native_import = _last_int(link.exec(imports + _SAMPLE)) - baseline
            link.exec(_START)
            imported = _last_int(link.exec(_SAMPLE)) - baseline
            hw = vb.app.hw  # type: ignore[union-attr]
            button = board.profile["button"]
            with hw.lock:
                hw.press_button(button["pin"], hw.now_us + 300_000, 150_000,
                                active_low=button.get("active_low", True))
            series = []
            steps = round(seconds / step_s)
            config_op = 0
            for i in range(steps):
                series.append(_last_int(link.exec(_step(step_s))) - baseline)
                if i == steps // 2:  # a config read mid-session: settings loaded for a moment
                    config_op = _last_int(link.exec(_CONFIG_OP)) - baseline
            ticks = link.exec(_TICKS).decode().split("allocates:")[-1].split()
            allocating = ticks[0].split(",") if ticks and ticks[0] else []
            recording = link.exec("import retrofw.api as _a\n"
                                  "print(_a.status_answer()['recording'])\n").split()[-1]
    finally:
        vb.stop()
        server.join(timeout=10)
        vb.close()
    sessions = sorted((fs / "sessions").glob("*.rrl")) if (fs / "sessions").is_dir() else []
    session_file_bytes = sessions[-1].stat().st_size if sessions else 0
    shutil.rmtree(work, ignore_errors=True)
    static = static or measure(board_name)
    wasi_import = static["in_place_code_bytes" if layout == "romfs" else "code_bytes"]
    ratio = native_import / wasi_import
    peak = max(series)
    return {
        "board": board.name,
        "layout": layout,
        "virtual_s": round(len(series) * step_s, 3),
        "samples": len(series),
        "baseline_bytes": baseline,
        "imported_bytes": imported,
        "session_peak_bytes": peak,
        "tick_methods_allocating": allocating,
        "config_op_bytes": config_op,
        "native_import_bytes": native_import,
        "wasi_import_bytes": wasi_import,
        "ratio_64_to_32": round(ratio, 3),
        "session_peak_32bit_bytes": round(peak / ratio),
        "config_op_32bit_bytes": round(config_op / ratio),
        "session_last_bytes": series[-1],
        "recording_session": None if recording == b"None" else int(recording),
        "session_file_bytes": session_file_bytes,
    }
