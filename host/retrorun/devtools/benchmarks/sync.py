"""`retrorun bench sync [--json]`: `retrorun sync` against `mpremote fs cp` on a 115200 baud line.

A virtual board in app mode holds the same session files for both runs (written by the
device's own SessionWriter: an hour of default logging split into sessions) and the firmware
(copied into its /lib). A throttled loopback line (`retrorun.devtools.vboard.throttle`, 11,520 bytes/s
each way like a UART at 115200 8N1) sits between the tools and the board and counts the bytes:

- retrorun: `pull_sessions` through `SerialTransport` (status, list, binary reads, digest,
  mark synced) into a fresh store;
- mpremote: the real `mpremote connect <port> fs cp :/sessions/<file> <dir>/` per file, as a
  user would copy them.

`efficiency` is payload bytes / bytes on the wire (both directions) for retrorun;
`speedup_vs_mpremote` is mpremote's time over retrorun's. Targets: >= 0.7 and >= 2.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from retrorun.cli import output
from retrorun.errors import RetrorunError

TARGET_EFFICIENCY = 0.7
TARGET_SPEEDUP = 2.0


def add_arguments(parser) -> None:
    parser.add_argument("--minutes", type=int, default=30,
                        help="minutes of logging to sync, split into 2 sessions (default 30)")
    parser.add_argument("--baud", type=int, default=115200, help="line rate (default 115200)")


def make_sessions(root: Path, minutes: int) -> list[Path]:
    """Two sessions of minutes/2 each, written by the device's SessionWriter (CPython)."""
    from retrofw import wire
    from retrofw.snapshot import SnapshotRing
    from retrofw.store import SessionWriter

    files = []
    for index in range(2):
        writer = SessionWriter(str(root), now_ms=0, board="bench", free_kb=lambda: 4000,
                               start_unix=1_764_000_000 + index * 7200)
        ring = SnapshotRing(writer, 20, 3.0)
        x = 12345 + index
        for second in range(minutes * 30):
            t = second * 1000
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            distance = 1500 + x % 5000
            if second % 120 == 60:
                writer.event(t, wire.EV_ALERT, wire.ALERT_WARNING, distance)
                for k in range(150):
                    ring.feed(t + 20 * k, 2400 - 10 * k)
                ring.trigger(t + 1500, wire.ALERT_WARNING)
            writer.sample(t, distance, 0, second * 3, 172, 80 + x % 40)
        writer.close(minutes * 30 * 1000)
        files.append(Path(writer.store.path(writer.session_id)))
    return files


def _install_firmware(fs: Path) -> None:
    from retrorun.paths import retrofw_parent

    shutil.copytree(retrofw_parent() / "retrofw", fs / "lib" / "retrofw",
                    ignore=shutil.ignore_patterns("__pycache__"))


def measure(minutes: int = 30, baud: int = 115200) -> dict:
    from retrorun.devtools.vboard.board import VirtualBoard
    from retrorun.devtools.vboard.throttle import ThrottledLine
    from retrorun.link.serial_transport import SerialTransport
    from retrorun.sessions.store import Store
    from retrorun.sessions.sync import pull_sessions

    if minutes < 1:
        raise RetrorunError(f"--minutes {minutes} is out of range; give at least 1")
    if not 300 <= baud <= 5_000_000:
        raise RetrorunError(f"--baud {baud} is out of range; give 300-5000000 (a UART's rates)")
    work = Path(tempfile.mkdtemp(prefix="retrorun-bench-sync-"))
    fs = work / "fs"
    fs.mkdir()
    files = make_sessions(fs, minutes)
    _install_firmware(fs)
    payload = sum(f.stat().st_size for f in files)
    board = VirtualBoard(mode="app", listen="socket", fs_dir=fs, flash_path=work / "flash.bin")
    server = threading.Thread(target=board.serve_forever, daemon=True)
    server.start()
    line = ThrottledLine(int(board.port.rsplit(":", 1)[1]), baud=baud)
    try:
        # retrorun sync
        line.reset_counts()
        started = time.monotonic()
        with Store(work / "store.sqlite3") as store, SerialTransport(line.port) as link:
            result = pull_sessions(link, store)
        t_retrorun = time.monotonic() - started
        wire_retrorun = line.to_host + line.to_device
        if len(result.stored) != len(files):
            raise RetrorunError(f"bench: retrorun sync stored {len(result.stored)} of "
                                f"{len(files)} sessions")
        # mpremote fs cp, the same files
        out = work / "mpremote"
        out.mkdir()
        line.reset_counts()
        started = time.monotonic()
        for f in files:
            proc = subprocess.run(
                [sys.executable, "-m", "mpremote", "connect", line.port, "fs", "cp",
                 f":/sessions/{f.name}", f"{out}/"], capture_output=True, text=True,
                timeout=600)
            if proc.returncode != 0:
                raise RetrorunError(f"bench: mpremote fs cp failed: {proc.stderr.strip()}")
        t_mpremote = time.monotonic() - started
        wire_mpremote = line.to_host + line.to_device
        for f in files:
            if (out / f.name).read_bytes() != f.read_bytes():
                raise RetrorunError(f"bench: mpremote copied {f.name} wrongly")
    finally:
        line.close()
        board.stop()
        server.join(timeout=10)
        board.close()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "baud": baud,
        "sessions": len(files),
        "payload_bytes": payload,
        "retrorun": {"seconds": round(t_retrorun, 2), "wire_bytes": wire_retrorun,
                     "efficiency": round(payload / wire_retrorun, 3)},
        "mpremote": {"seconds": round(t_mpremote, 2), "wire_bytes": wire_mpremote,
                     "efficiency": round(payload / wire_mpremote, 3)},
        "summary": {
            "efficiency": round(payload / wire_retrorun, 3),
            "speedup_vs_mpremote": round(t_mpremote / t_retrorun, 2),
            "targets": {"efficiency": TARGET_EFFICIENCY, "speedup_vs_mpremote": TARGET_SPEEDUP},
        },
    }


def run(args) -> int:
    figures = measure(args.minutes, args.baud)
    if args.json:
        output.emit_json(figures)
        return 0
    s = figures["summary"]
    output.console.print(f"{figures['sessions']} sessions, {figures['payload_bytes']} bytes, "
                         f"over a {figures['baud']} baud line")
    output.table("sync", ("tool", "seconds", "bytes on the wire", "payload/wire"),
                 [(name, figures[name]["seconds"], figures[name]["wire_bytes"],
                   figures[name]["efficiency"]) for name in ("retrorun", "mpremote")])
    output.console.print(f"efficiency {s['efficiency']} (target >= {TARGET_EFFICIENCY}), "
                         f"speedup vs mpremote {s['speedup_vs_mpremote']}x "
                         f"(target >= {TARGET_SPEEDUP}x)")
    return 0
