"""The virtual board process: one serial port (a listener) and what is behind it right now.

A `VirtualBoard` is in one of three states:

- `rom`: the ESP32 serial loader (`retrorun.devtools.vboard.rom.RomLoader`) gets the host's bytes; esptool
  flashes the file-backed flash.
- `app`: the MicroPython device (`retrorun.devtools.vboard.repl.AppDevice`, imported when first needed)
  gets the bytes and answers through the `write` callable it was given.
- `reset`: EN is held low by the host's DTR/RTS (RFC 2217 only); input is dropped and the app
  device's output is silenced. When EN rises the app device is hard-reset (`reset(hard=True)`)
  or, if the chip boots the ROM loader, closed; it is created anew when the app next starts.

Over RFC 2217 the host's DTR/RTS drive `retrorun.devtools.vboard.autoreset.AutoReset` (the DevKitC
circuit), so esptool's default reset enters the loader and its hard reset starts the app. The
loader itself can also leave: "run user code" starts the app, a reboot restarts the loader.

Usage (library): `board = VirtualBoard(mode="rom", listen="socket", flash_path=...)`,
`board.port` is the port string, `board.serve_forever()` runs until `board.stop()` (safe from a
signal handler or another thread), then `board.close()`.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from retrorun.devtools.vboard.autoreset import AutoReset
from retrorun.devtools.vboard.flash import Flash
from retrorun.devtools.vboard.listen import ListenerEvents, make_listener
from retrorun.devtools.vboard.loader_protocol import BOOT_LOG_DOWNLOAD, DEFAULT_MAC
from retrorun.devtools.vboard.rom import RomLoader
from retrorun.errors import RetrorunError

MODES = ("app", "rom")
BOOT_LOG_SW_RESET = (b"ets Jun  8 2016 00:22:57\r\n\r\n"
                     b"rst:0xc (SW_CPU_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
                     b"waiting for download\r\n")


class AppDeviceLike(Protocol):
    """What the board needs from an app device (`retrorun.devtools.vboard.repl.AppDevice`)."""

    def on_data(self, data: bytes) -> None: ...

    def reset(self, hard: bool) -> None: ...

    def close(self) -> None: ...


AppFactory = Callable[..., AppDeviceLike]


def default_app_factory(fs_dir: Path, write: Callable[[bytes], None],
                        scenario=None, flash: Flash | None = None) -> AppDeviceLike:
    """The real app device (MicroPython REPL), imported only when app mode is first entered;
    it sees the board's flash (partition table, ROMFS partition)."""
    try:
        from retrorun.devtools.vboard.repl import AppDevice
    except ImportError as exc:
        raise RetrorunError(f"app mode is not available ({exc}); use --mode rom")
    return AppDevice(fs_dir, write, scenario=scenario, flash=flash)


class VirtualBoard(ListenerEvents):
    """Listener + ROM loader + app device + auto-reset circuit, driven by one thread."""

    def __init__(self, *, mode: str = "rom", listen: str = "socket",
                 flash_path: str | os.PathLike | None = None, flash_size: int | None = None,
                 fs_dir: str | os.PathLike | None = None, scenario: object = None,
                 tcp_port: int = 0, mac: bytes = DEFAULT_MAC,
                 app_factory: AppFactory | None = None, verbose: bool = False) -> None:
        if mode not in MODES:
            raise RetrorunError(f"unknown mode {mode!r}; choose app or rom")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.flash_path = Path(flash_path) if flash_path else self._scratch() / "flash.bin"
        self.fs_dir = Path(fs_dir) if fs_dir else self._scratch() / "fs"
        try:
            self.fs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RetrorunError(f"cannot use {self.fs_dir} as the board's file system "
                                f"({exc.strerror}); give --fs a folder you can write") from exc
        self.scenario = scenario
        self.verbose = verbose
        self.events: deque[str] = deque(maxlen=1000)  # recent boots and connections
        self._app_factory = app_factory or default_app_factory
        self._app: AppDeviceLike | None = None
        self._app_token: object | None = None
        self._closing: list[threading.Thread] = []
        self._stop = threading.Event()
        self.flash = Flash(self.flash_path, flash_size)
        self.loader = RomLoader(self.flash, self._rom_write, mac=mac, on_exit=self._loader_exit)
        self.autoreset = AutoReset(self._boot, self._hold)
        try:
            self.listener = make_listener(listen, self, tcp_port)
        except OSError as exc:
            self.flash.close()
            hint = ("pass another --tcp-port (0: any free port)" if tcp_port
                    and exc.errno == errno.EADDRINUSE else "try another --listen")
            raise RetrorunError(f"cannot open a {listen} listener ({exc}); {hint}") from exc
        self.mode = "rom"
        if mode == "app":
            try:
                self._start_app(strict=True)
            except BaseException:
                self.listener.close()
                self.flash.close()
                raise

    def _scratch(self) -> Path:
        """A temporary folder (removed by `close`) for what the caller did not place."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="retrorun-vboard-")
        return Path(self._tmp.name)

    # ---- public -------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """The port string for esptool, mpremote and `retrorun --port`."""
        return self.listener.port

    @property
    def app(self) -> AppDeviceLike | None:
        """The app device running now (None in ROM mode or while EN is held low)."""
        return self._app

    def write_port_file(self, path: str | os.PathLike) -> None:
        """Write the port string to `path` atomically (readers never see a partial line)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(self.port + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise RetrorunError(f"cannot write the port file {path} ({exc.strerror}); give "
                                "--port-file a file path in a folder you can write") from exc

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            self.serve_once()

    def serve_once(self, max_wait: float = 0.1) -> None:
        timeout = max_wait
        deadline = self.autoreset.deadline()
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - time.monotonic()))
        self.listener.poll(timeout)
        self.autoreset.poll()

    def stop(self) -> None:
        """Ask `serve_forever` to return (signal-safe)."""
        self._stop.set()

    def close(self) -> None:
        self._close_app(wait=True)
        for thread in self._closing:
            thread.join(10)
        self.listener.close()
        self.flash.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- listener events (board thread) --------------------------------------------------
    def on_connect(self) -> None:
        self._note("client connected")

    def on_disconnect(self) -> None:
        self._note("client disconnected")
        if self.listener.kind == "rfc2217":
            self.autoreset.release()

    def on_lines(self, dtr: bool | None, rts: bool | None) -> None:
        self.autoreset.set_lines(dtr, rts)

    def on_baud(self, baud: int) -> None:
        self.loader.baud = baud

    def on_data(self, data: bytes) -> None:
        if self.autoreset.in_reset:
            if not self.autoreset.en:
                return  # EN low: the chip hears nothing
            self.autoreset.host_data()
        try:
            if self.mode == "rom":
                self.loader.feed(data)
            elif self.mode == "app" and self._app is not None:
                self._app.on_data(data)
        except Exception:  # a bug in a device model must not kill the port
            self._note("device error:\n" + traceback.format_exc(), force=True)

    # ---- mode changes ---------------------------------------------------------------------
    def _rom_write(self, data: bytes) -> None:
        if self.mode == "rom":
            self.listener.send(data)

    def _hold(self) -> None:
        self._note("EN low: chip held in reset")
        self.mode = "reset"  # the app (if any) is silenced now and rebooted or closed at boot

    def _boot(self, kind: str) -> None:
        self._note(f"reset into {'ROM loader' if kind == 'rom' else 'app'}")
        if kind == "rom":
            self._close_app()
            self.loader.reset()
            self.mode = "rom"
            self.listener.send(BOOT_LOG_DOWNLOAD)
        else:
            self._start_app()  # the app device prints the ROM boot log of a flash boot itself

    def _loader_exit(self, kind: str) -> None:
        if kind == "app":
            self._note("loader runs user code: app")
            self._start_app()
        else:
            self._note("loader reboots: ROM loader")
            self.listener.send(BOOT_LOG_SW_RESET)

    def _start_app(self, strict: bool = False) -> None:
        self.mode = "app"
        if self._app is not None:
            self._app.reset(hard=True)
            return
        token = object()
        self._app_token = token

        def write(data: bytes) -> None:
            if self._app_token is token and self.mode == "app":
                self.listener.send(bytes(data))

        try:
            self._app = self._app_factory(self.fs_dir, write, scenario=self.scenario,
                                          flash=self.flash)
        except RetrorunError as exc:
            if strict:
                raise
            self._note(f"no app: {exc}", force=True)
            self._app = None

    def _close_app(self, wait: bool = False) -> None:
        """Stop the app device. Its output is cut at once; the device itself is closed in the
        background (unless `wait`), so a reset over RFC 2217 is acknowledged without delay."""
        app, self._app = self._app, None
        self._app_token = None
        if app is None:
            return

        def close() -> None:
            try:
                app.close()
            except Exception:
                self._note("app close failed:\n" + traceback.format_exc(), force=True)

        if wait:
            close()
        else:
            thread = threading.Thread(target=close, name="vboard-app-close", daemon=True)
            self._closing.append(thread)
            thread.start()

    def _note(self, text: str, force: bool = False) -> None:
        self.events.append(text)
        if self.verbose or force:
            print(f"vboard: {text}", file=sys.stderr, flush=True)
