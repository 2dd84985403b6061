"""The app's heap high-water mark during a session, measured in MicroPython on the virtual board
(part of `retrorun bench heap`; `measure_session()`).

What runs: the firmware as `retrorun flash` and `retrorun deploy` leave it on a board (the ROMFS
image in the "romfs" partition of the flash, /boot.py, /board.json and /config.json on the
filesystem) on the virtual board: real MicroPython (the WASI build), the demo scenario's world
(`retrorun demo`) driving the sensor and the IMU models. The bench does what /main.py does (the
safe-mode check, then the app's real `main()`, here as a task of the board's event loop) and
presses the button to start a session.

How: the event loop runs in steps of `step_s` virtual seconds (`loop.call_later(step,
loop.stop)`, `loop.run_forever()`), each from the top level of a REPL job. Between steps, at that
top level, a real `gc.collect()` runs and `gc.mem_alloc()` gives the live heap. Collecting only
there is safe with this WASI build (its collector cannot see WebAssembly locals; every frame alive
at that point is small enough to sit on the scanned shadow stack: docs/vboard-app.md); the app's
own `gc.collect()` calls stay no-ops. `session_peak_bytes` is the largest live heap seen minus the
live heap at the same point before the app was imported (the VM, the virtual board's stand-ins
for `machine`, `time`, `asyncio`, `os`, `esp32`, and the romfs partition's memory, which is flash
on a board). Half-way, a configuration read is simulated (`retrofw.settings` loaded, sampled,
unloaded, as `retrofw.api` does for a config read or write): `config_op_bytes` is the live heap at
that moment, and the samples after it include what stays (interned names are never freed).

What the figure is: the peak of the sampled live heap. It is conservative in that the stand-in
machine objects and asyncio tasks are Python objects, bigger than a firmware's built-in ones,
and a conservative collector may keep a stale object alive. It does not see memory allocated and
freed again between two samples (a tick's temporaries; the per-tick paths allocate nothing, so
that is a console line or a log flush), and the interned-name (qstr) pools grow by doubling from
the firmware's own static pools, whose sizes differ between this build and an ESP32 build.
Bluetooth: the virtual board has no `bluetooth` module, so the app runs with BLE off;
`ble_code_bytes` of `retrorun bench heap` says what the BLE modules add.
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
_SETUP = ("import _vb, gc, sys\n"
          "import machine, time, asyncio, os, esp32, micropython\n"
          "def _hb_sample():\n"
          "    _vb.REAL_GC = True\n"
          "    gc.collect()\n"
          "    _vb.REAL_GC = False\n"
          "    return gc.mem_alloc()\n")
_SAMPLE = "print(_hb_sample())\n"
_START = ("from retrofw import parts\n"
          "if parts.safe_mode_requested():\n"
          "    raise SystemExit\n"
          "parts = None\n"
          "import retrofw.app as _hb_app\n"
          "_hb_loop = asyncio.new_event_loop()\n"
          "_hb_task = asyncio.create_task(_hb_app.main())\n")


# While a config read or write runs, retrofw.api has the settings module loaded (it unloads it
# after): the live heap at that moment, with the app's session running.
_CONFIG_OP = ("from retrofw import settings as _hb_settings\n" + _SAMPLE
              + "_hb_settings = None\nfrom retrofw.unload import unload as _hb_unload\n"
              "_hb_unload('retrofw.settings')\n")


def _last_int(out: bytes) -> int:
    """The number a job printed last (the app prints its own lines before it)."""
    return int(out.split()[-1])


def _step(seconds: float) -> str:
    return f"_hb_loop.call_later({seconds}, _hb_loop.stop)\n_hb_loop.run_forever()\n" + _SAMPLE


def _board_files(board, work: Path, layout: str = "romfs") -> tuple[Path, Path]:
    """(fs folder, flash file) as flash + deploy leave a board, without /main.py; `layout`
    "files" puts the firmware in /lib as .mpy files instead (deploy's fallback)."""
    from retrorun.provision import partition_table as pt
    from retrorun.provision.deploy import DEVICE_LIB, default_config, firmware_files, romfs_image
    from retrorun.vboard.rom import Flash, write_partition_table

    fs = work / "fs"
    fs.mkdir()
    files = firmware_files(board)
    for path, data in files.items():
        if path == "/main.py" or (layout == "romfs" and path.startswith(DEVICE_LIB + "/")):
            continue
        (fs / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (fs / path.lstrip("/")).write_bytes(data)
    (fs / "config.json").write_bytes(default_config())
    parts = pt.with_romfs(pt.MICROPYTHON_ESP32_4MB)
    romfs = pt.find(parts, pt.ROMFS_LABEL)
    image = romfs_image(files)
    if romfs is None or len(image) > romfs.size:
        raise RetrorunError("the firmware's ROMFS image does not fit the romfs partition")
    write_partition_table(work / "flash.bin", "romfs")
    if layout == "romfs":
        flash = Flash(work / "flash.bin")
        try:
            flash.program(romfs.offset, image)
        finally:
            flash.close()
    return fs, work / "flash.bin"


def measure_session(board_name: str = "esp32-devkitc", seconds: float = 30.0,
                    step_s: float = STEP_S, layout: str = "romfs") -> dict:
    from retrorun.demo import DEMO_SCENARIO
    from retrorun.link.serial_transport import SerialTransport
    from retrorun.provision.boards import get_board
    from retrorun.vboard.board import VirtualBoard

    if not 1 <= seconds <= 3600 or not 0.05 <= step_s <= seconds:
        raise RetrorunError(f"--session-s {seconds} / step {step_s} out of range; give 1-3600 s")
    board = get_board(board_name)
    scenario = json.loads(DEMO_SCENARIO.read_text())
    scenario["device"]["button_presses_s"] = []  # pressed below, once the app runs
    work = Path(tempfile.mkdtemp(prefix="retrorun-bench-heap-session-"))
    fs, flash = _board_files(board, work, layout)
    vb = VirtualBoard(mode="app", listen="socket", fs_dir=fs, flash_path=flash,
                      scenario=scenario)
    server = threading.Thread(target=vb.serve_forever, daemon=True)
    server.start()
    try:
        with SerialTransport(vb.port, timeout=60) as link:
            link.exec(_SETUP)
            link.exec(_SAMPLE)  # settle: the first collection frees the boot's garbage
            baseline = _last_int(link.exec(_SAMPLE))
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
            recording = link.exec("import retrofw.api as _a\n"
                                  "print(_a.status_answer()['recording'])\n").split()[-1]
    finally:
        vb.stop()
        server.join(timeout=10)
        vb.close()
    sessions = sorted((fs / "sessions").glob("*.rrl")) if (fs / "sessions").is_dir() else []
    session_file_bytes = sessions[-1].stat().st_size if sessions else 0
    shutil.rmtree(work, ignore_errors=True)
    return {
        "board": board.name,
        "layout": layout,
        "virtual_s": round(len(series) * step_s, 3),
        "samples": len(series),
        "baseline_bytes": baseline,
        "imported_bytes": imported,
        "session_peak_bytes": max(series),
        "config_op_bytes": config_op,
        "session_last_bytes": series[-1],
        "recording_session": None if recording == b"None" else int(recording),
        "session_file_bytes": session_file_bytes,
    }
