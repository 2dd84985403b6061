"""The end-to-end demo: the real firmware on a virtual board, then sync, report and plot.

Steps (each through the same library calls as the commands):
1. start a virtual ESP32-DevKitC (app mode, socket://) whose world is the demo scenario
   (host/retrorun/devtools/sim/demo/backward_run.json: a backward run past a person crossing, up to a
   wall, the sensor cable coming loose for 3 s, button presses to start and stop the session),
   its flash holding the partition table `retrorun flash` writes (with the romfs partition);
2. `deploy` the firmware (mpy-cross compiled, one ROMFS image) and the board profile over
   mpremote;
3. `config set` a setting, as a runner would;
4. hard-reset the board: main.py starts the app, the scenario plays out on virtual time, and the
   app closes the session when the scenario presses the button again;
5. `sync` the new session into the store, print the report and write the plot.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retrorun.errors import RetrorunError

DEMO_SCENARIO = Path(__file__).resolve().parent / "sim" / "demo" / "backward_run.json"
DEMO_BOARD = "esp32-devkitc"
SESSION_CLOSED = b"retrorun: closed session"  # retrofw.app.SESSION_CLOSED
RUN_TIMEOUT_S = 150.0


@dataclass
class DemoResult:
    report: dict  # build_report() of the synced session, with "plot" and "store"
    key: str  # the session's key in the store
    fs_dir: Path  # the virtual board's filesystem (its /)
    haptic: list = field(default_factory=list)  # [(t_s since the run began, duty_u16)]
    world_log: list = field(default_factory=list)  # [(t_s, what)]: e.g. "unplugged hcsr04"
    live_lines: int = 0  # the app's `@rr` console lines that `retrorun monitor` parsed


def run_demo(store_path: Path | None, plot_file: Path, say: Callable[[str], None] = print,
             work_dir: Path | None = None, board_name: str = DEMO_BOARD) -> DemoResult:
    """Run the demo; return the report of the recorded session and what the board felt."""
    from retrorun.devtools.vboard.board import VirtualBoard
    from retrorun.devtools.vboard.flash import write_partition_table
    from retrorun.link.connect import open_serial
    from retrorun.link.serial_transport import SerialTransport
    from retrorun.provision.boards import get_board
    from retrorun.provision.deploy import deploy
    from retrorun.sessions.plot import plot_path, plot_session
    from retrorun.sessions.report import build_report
    from retrorun.sessions.store import Store
    from retrorun.sessions.sync import pull_sessions

    target = plot_path(Path(plot_file))  # a wrong file type fails now, not after the run
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="retrorun-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    store_path = store_path or work / "store.sqlite3"
    write_partition_table(work / "flash.bin", "stock")  # a board with a stock download
    profile = get_board(board_name)
    # the virtual board is that board (its chip, its wiring), as a maker's board is: deploy
    # checks the chip against the profile
    (work / "fs").mkdir(parents=True, exist_ok=True)
    (work / "fs" / "board.json").write_text(json.dumps(profile.profile))
    board = VirtualBoard(mode="app", listen="socket", fs_dir=work / "fs",
                         flash_path=work / "flash.bin", scenario=str(DEMO_SCENARIO))
    server = threading.Thread(target=board.serve_forever, name="vboard", daemon=True)
    server.start()
    try:
        say(f"1/5 virtual {board_name} on {board.port} (world: {DEMO_SCENARIO.name})")
        with SerialTransport(board.port) as link:
            report = deploy(link, profile)
            where = (f"ROMFS image of {report.romfs_bytes} bytes + " if report.layout == "romfs"
                     else "")
            say(f"2/5 deployed firmware {report.version}: {where}{len(report.uploaded)} files "
                "(mpy-cross, xtensawin)")
            link.config_set({"haptic.strength": 90})
            clock = "and the clock set" if link.set_clock() else "(the clock could not be set)"
            say(f"3/5 config set haptic.strength=90 {clock}")
        say("4/5 hard reset: the app runs the scenario on virtual time ...")
        started = time.monotonic()
        lines = run_until_session_closed(board.port)
        say(f"    session closed after {time.monotonic() - started:.1f} s real time "
            f"({lines} live lines seen)")
        haptic, world_log = _board_record(board, profile.profile)
        with Store(store_path) as store, open_serial(board.port) as link:
            result = pull_sessions(link, store)
            if not result.stored:
                raise RetrorunError("the demo session did not reach the store")
            key = result.stored[-1]
            say(f"5/5 synced {key} into {store_path}")
            summary = build_report(store, key)
            summary["plot"] = str(plot_session(store, key, target))
            summary["store"] = str(store_path)
        return DemoResult(summary, key, work / "fs", haptic, world_log, lines)
    finally:
        board.stop()
        server.join(timeout=10)
        board.close()


def _board_record(board, profile: dict) -> tuple[list, list]:
    """The motor's PWM timeline and the world's log, in seconds since the scenario began."""
    app = board.app
    hw = getattr(app, "hw", None)
    world = getattr(app, "scenario", None)
    if hw is None:
        return [], []
    t0 = getattr(world, "t0_us", 0)
    pin = profile["haptic"].get("pin")
    haptic = [((t - t0) / 1e6, duty) for t, p, _freq, duty in list(hw.pwm_timeline)
              if p == pin and t >= t0]
    log = [((t - t0) / 1e6, what) for t, what in list(hw.log) if t >= t0]
    return haptic, log


def run_until_session_closed(port: str, timeout: float = RUN_TIMEOUT_S) -> int:
    """Reset the board into its app and read its console until it closes a session."""
    import serial

    from retrorun.link.monitor import parse_line

    link = serial.serial_for_url(port, baudrate=115200, timeout=0.5)
    try:
        link.write(b"\r\x03\x03")  # stop whatever runs, to the friendly prompt
        time.sleep(0.3)
        link.reset_input_buffer()
        link.write(b"import machine; machine.reset()\r")
        deadline = time.monotonic() + timeout
        seen = b""
        lines = 0
        while time.monotonic() < deadline:
            line = link.readline()
            if parse_line(line) is not None:  # what `retrorun monitor` shows
                lines += 1
            elif SESSION_CLOSED in line:
                return lines
            elif b"Traceback" in line:
                seen = line + link.read(2000)
                break
        raise RetrorunError("the app on the virtual board did not finish the demo run"
                            + (f": {seen.decode('utf-8', 'replace').strip()}" if seen else ""))
    finally:
        link.close()
