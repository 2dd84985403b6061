"""`retrorun bench echo`: how well the deployed app times an HC-SR04's echo, by timing mode.

What runs: the firmware as flash + deploy leave a stock board (`vboard.deployed`), on the virtual
board with the esp32-devkitc profile (HC-SR04, MPU-6050 on I2C at 400 kHz, ERM), its
`distance.timing` set to "pulse" (machine.time_pulse_us, busy-waiting) or "irq" (pin interrupts
on both edges). The bench does what /main.py does (the app's real `main()` as an asyncio task),
presses the button so a session records, and wraps the running app's `on_reading` to keep every
reading the ranging task passes on. The world is one flat target at a fixed distance; the chip
model (models.hcsr04) makes an exact echo, so every error is the ESP32 side's.

Where the error comes from: the esp32 port has no hard pin IRQs; its ISR schedules the handler
(mp_sched_schedule), which runs when the VM gets to it. On the virtual board that is after the
host call in progress: an I2C transfer holds the VM for its bus time (9 clocks a byte at the
bus clock), so the IMU task's FIFO reads delay the handlers as on a board. Not modelled here:
garbage collections and flash writes (they take no virtual time), and the microseconds of ISR
entry and task wake-up; on a board they add to the figures for "irq".
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
from pathlib import Path

from retrorun.cli import output
from retrorun.errors import RetrorunError

TIMINGS = ("pulse", "irq")
DISTANCES_MM = (300, 1000, 2500)
# Run as REPL jobs on the board (cf. heap_session.py): the app as a task, then steps of the
# event loop; the wrapper keeps the readings the ranging task hands to the app.
_SETUP = ("import asyncio\n"
          "async def _eb_pause(ms):\n"
          "    await asyncio.sleep_ms(ms)\n"
          "from retrofw import parts\n"
          "parts = None\n"
          "import retrofw.app as _eb_app\n"
          "_eb_task = asyncio.create_task(_eb_app.main())\n"
          "asyncio.run_until_complete(asyncio.create_task(_eb_pause(1000)))\n"
          "_eb = []\n"
          "def _eb_wrap(app):\n"
          "    inner = app.on_reading\n"
          "    def on_reading(now, reading):\n"
          "        _eb.append(reading)\n"
          "        inner(now, reading)\n"
          "    app.on_reading = on_reading\n"
          "_eb_wrap(_eb_app.App.current)\n")
_STEP = "asyncio.run_until_complete(asyncio.create_task(_eb_pause({ms})))\n"
_TAKE = "print(' '.join(str(r) for r in _eb))\n_eb.clear()\n"


class _Flat:
    """The world: one flat target at `mm`, the board lying still."""

    def __init__(self, mm: int):
        self.mm = mm

    def distance_mm(self, _t_us: int) -> float:
        return float(self.mm)


def _board(timing: str):
    from retrorun.provision.boards import Board, get_board

    base = get_board("esp32-devkitc")
    profile = {**base.profile, "distance": {**base.profile["distance"], "timing": timing},
               "name": f"esp32-devkitc+{timing}"}
    return Board(profile["name"], base.path, profile, base.warnings)


def readings(timing: str, distance_mm: int, seconds: float) -> list[int]:
    """Every reading the running app got in `seconds` of virtual time after its start."""
    from retrorun.devtools.vboard.board import VirtualBoard
    from retrorun.devtools.vboard.deployed import board_folder
    from retrorun.link.serial_transport import SerialTransport

    board = _board(timing)
    work = Path(tempfile.mkdtemp(prefix="retrorun-bench-echo-"))
    try:
        fs, flash = board_folder(board, work, main=False)
        vb = VirtualBoard(mode="app", listen="socket", fs_dir=fs, flash_path=flash,
                          scenario=_Flat(distance_mm))
        server = threading.Thread(target=vb.serve_forever, daemon=True)
        server.start()
        out: list[int] = []
        try:
            with SerialTransport(vb.port, timeout=120) as link:
                link.exec(_SETUP)
                hw = vb.app.hw  # type: ignore[union-attr]
                button = board.profile["button"]
                with hw.lock:  # a session records: the IMU task and the log run
                    hw.press_button(button["pin"], hw.now_us + 100_000, 150_000,
                                    active_low=button.get("active_low", True))
                for _ in range(max(1, round(seconds))):
                    link.exec(_STEP.format(ms=1000))
                    out += [int(w) for w in link.exec(_TAKE).decode().split()
                            if w.lstrip("-").isdigit()]
        finally:
            vb.stop()
            server.join(timeout=10)
            vb.close()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summarize(values: list[int], distance_mm: int) -> dict:
    from retrofw import wire

    mm = [v for v in values if v >= 0]
    errors = [v - distance_mm for v in mm]
    absolute = sorted(abs(e) for e in errors)
    p95 = absolute[min(len(absolute) - 1, int(0.95 * len(absolute)))] if absolute else None
    return {
        "distance_mm": distance_mm,
        "readings": len(values),
        "distances": len(mm),
        "dropped": sum(1 for v in values if v == wire.SENSOR_BAD_FRAME),
        "no_reading": sum(1 for v in values if v == wire.NO_READING),
        "median_error_mm": statistics.median(errors) if errors else None,
        "p95_abs_error_mm": p95,
        "max_abs_error_mm": absolute[-1] if absolute else None,
        "over_50mm": sum(1 for a in absolute if a > 50),
    }


def measure(seconds: float = 20.0, distances=DISTANCES_MM, timings=TIMINGS) -> list[dict]:
    if not 2 <= seconds <= 600:
        raise RetrorunError(f"--seconds {seconds} is out of range; give 2-600")
    rows = []
    for timing in timings:
        for d in distances:
            rows.append({"timing": timing, **summarize(readings(timing, d, seconds), d)})
    return rows


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="virtual seconds of readings per timing mode and distance "
                             "(default 20)")


def run(args) -> int:
    rows = measure(args.seconds)
    if args.json:
        output.emit_json({"seconds": args.seconds, "runs_app": True, "rows": rows})
        return 0
    output.table("HC-SR04 echo timing in the deployed app (errors: reading - target)",
                 ("timing", "target mm", "readings", "dropped", "median err mm",
                  "p95 |err| mm", "max |err| mm", "> 50 mm"),
                 [(r["timing"], r["distance_mm"], r["readings"], r["dropped"],
                   r["median_error_mm"], r["p95_abs_error_mm"], r["max_abs_error_mm"],
                   r["over_50mm"]) for r in rows])
    return 0
