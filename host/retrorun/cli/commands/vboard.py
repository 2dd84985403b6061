"""`retrorun vboard`: run the virtual ESP32 board (app or ROM mode) on a loopback serial port."""

from __future__ import annotations

import signal
from pathlib import Path

from retrorun.cli import output
from retrorun.errors import RetrorunError
from retrorun.paths import data_dir


def register(sub) -> None:
    parser = sub.add_parser(
        "vboard", help="run the virtual ESP32 board on a loopback serial port",
        description="Run a simulated ESP32-DevKitC that real tools talk to: in app mode the "
                    "MicroPython REPL (mpremote, retrorun --port), in rom mode the serial "
                    "loader (esptool). Stops cleanly on SIGTERM or Ctrl-C.")
    parser.add_argument("--mode", choices=("app", "rom"), default="app",
                        help="what runs after start: the MicroPython app or the ROM loader")
    parser.add_argument("--listen", choices=("socket", "pty", "rfc2217"), default="socket",
                        help="socket://127.0.0.1:N (default), a pseudo-terminal, or "
                             "rfc2217://127.0.0.1:N (DTR/RTS drive the auto-reset circuit)")
    parser.add_argument("--tcp-port", type=int, default=0,
                        help="TCP port for socket/rfc2217 (default: any free port)")
    parser.add_argument("--fs", type=Path, default=None,
                        help="host folder holding the board's / (default: in the data folder)")
    parser.add_argument("--flash", type=Path, default=None,
                        help="file holding the SPI flash contents (created as 4 MB of 0xFF)")
    parser.add_argument("--table", choices=("stock", "romfs"), default=None,
                        help="write MicroPython's ESP32_GENERIC 4 MB partition table into the "
                             "flash first: as a stock image has it, or with the romfs partition "
                             "'retrorun flash' adds (deploy then uses ROMFS)")
    parser.add_argument("--firmware", choices=("stock", "romfs"), default=None,
                        help="which MicroPython the flash holds, as if flashed: a stock "
                             "micropython.org download (no ROMFS) or a custom build with ROMFS "
                             "(vfs.rom_ioctl); needs a partition table (--table). Default: "
                             "what the flash holds, stock when unsure")
    parser.add_argument("--scenario", default=None, help="scenario driving the app's world")
    parser.add_argument("--haptics", type=Path, default=None, metavar="FILE",
                        help="write the haptic output as JSON lines {\"t_s\": virtual seconds "
                             "since the last reset, \"level\": drive 0.0-1.0}, at every change")
    parser.add_argument("--port-file", type=Path, default=None,
                        help="write the port string to this file once listening")
    parser.add_argument("--verbose", action="store_true", help="log resets and connections")
    parser.set_defaults(func=run)


def run(args) -> int:
    from retrorun.devtools.vboard.board import VirtualBoard

    if not 0 <= args.tcp_port < 65536:
        raise RetrorunError(f"--tcp-port {args.tcp_port} is not a TCP port; use 0-65535")
    fs_dir = args.fs or data_dir() / "vboard" / "fs"
    flash = args.flash or data_dir() / "vboard" / "flash.bin"
    if args.table:
        from retrorun.devtools.vboard.flash import write_partition_table

        write_partition_table(flash, args.table)
    if args.firmware:
        from retrorun.devtools.vboard.flash import Flash, write_firmware_names

        held = Flash(flash)
        try:
            write_firmware_names(held, romfs=args.firmware == "romfs")
        except RetrorunError as exc:
            raise RetrorunError(f"--firmware: {exc}; add --table stock or --table romfs") from exc
        finally:
            held.close()
    board = VirtualBoard(mode=args.mode, listen=args.listen, flash_path=flash, fs_dir=fs_dir,
                         scenario=args.scenario, tcp_port=args.tcp_port, verbose=args.verbose)

    def stop(_signum, _frame) -> None:
        board.stop()

    watcher = _watch_haptics(board, args.haptics) if args.haptics else None
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if args.port_file:
            board.write_port_file(args.port_file)
        output.console.print(f"vboard: {args.mode} mode on {board.port} "
                             f"(flash {flash}, fs {fs_dir})", soft_wrap=True, markup=False)
        board.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if watcher is not None:
            watcher.set()
        board.close()
        if args.port_file and _reads(args.port_file) == board.port:
            args.port_file.unlink()  # only our own: another board may have taken the file
    output.console.print("vboard: stopped")
    return 0


def _reads(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _watch_haptics(board, path: Path):
    """Poll the running app device's haptic output every 50 ms into `path`; returns the event
    that stops it (it also writes what is left)."""
    import threading

    from retrorun.devtools.vboard.haptic_out import HapticsWriter

    try:
        writer = HapticsWriter(path)
    except OSError as exc:
        raise RetrorunError(f"cannot write --haptics {path} ({exc.strerror}); give a file in a "
                            "folder you can write") from exc
    done = threading.Event()

    def loop() -> None:
        while not done.wait(0.05):
            writer.poll(board.app)
        writer.poll(board.app)

    threading.Thread(target=loop, name="vboard-haptics", daemon=True).start()
    return done

