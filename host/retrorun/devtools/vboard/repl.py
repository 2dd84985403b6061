"""App mode of the virtual board: a MicroPython board that real mpremote talks to.

`AppDevice` is a virtual ESP32 running MicroPython, seen from its serial port. Feed it the bytes a
serial client sends (`on_data`); it answers through the `write` callable, as a board's USB-UART
would (the REPL itself: console.py). Soft reboots (Ctrl-D, `machine.soft_reset()`, `sys.exit()`)
run `/boot.py` and, in the friendly REPL, `/main.py`; hard resets, the watchdog and deep sleep
restart the board with its reset cause.

Code runs in ONE persistent real MicroPython VM per boot, in its own thread: a job loop in the
guest (device/_vbjobs.py) asks the host for the next job and execs it in the `__main__`
globals, its stdout streamed to the client; the guest's host calls are answered by
hostcalls.py. Two runtimes (runtime_native.py, runtime_wasi.py):
- "native" (default): the MicroPython Unix port, with its frozen asyncio on virtual time. This
  is the board the app, the simulator and the benches run on.
- "wasi": the 32-bit WASI build under wasmtime with fuel metering (no asyncio): ESP32-sized heap
  figures and instruction counts.
The board's `/` is the host folder `fs_dir`; the device files in `device/` (machine, time,
select, os, esp32, _vb) are mounted read-only at `/_vboard`, first on `sys.path`, followed by
'', `.frozen` and `/lib`.

Time is virtual (`Hardware.now_us`): sleeping advances it instantly (or at `speed` x real time);
on the WASI runtime computing advances it by the fuel used (`fuel_per_us`); while the REPL waits
for input it follows the wall clock.

Ctrl-C while code runs raises KeyboardInterrupt in the guest at its next host call. A loop that
makes no host call gets, after `interrupt_grace_s`, a SIGINT on the native runtime (a
KeyboardInterrupt, state kept); the WASI VM is restarted instead (its state is lost, boot.py
and main.py are not run) and the code ends with KeyboardInterrupt.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path

from retrorun.devtools.vboard import flash as vbflash
from retrorun.devtools.vboard import hw as hwmod
from retrorun.devtools.vboard import wiring, world
from retrorun.devtools.vboard.console import RAW_BANNER, Console, Reboot
from retrorun.devtools.vboard.hostcalls import HostCalls
from retrorun.errors import RetrorunError

DEVICE_DIR = Path(__file__).with_name("device")
DEVICE_MOUNT = "/_vboard"
VERSION = "v1.27.0 on 2025-12-09"
RUNTIMES = ("native", "wasi")
# "stock": MicroPython as micropython.org ships it for the esp32 (no ROMFS: no vfs.rom_ioctl, no
# VfsRom); "romfs": a custom build with MICROPY_VFS_ROM; "auto": what the flash holds
BUILDS = ("auto", "stock", "romfs")
# WASI: a big heap, so that the garbage collector (unsafe in this build: it cannot see heap
# pointers held in WebAssembly locals, and a collection can free live objects) practically
# never runs; heap_kb=110 gives an ESP32-sized heap for memory checks of short runs.
DEFAULT_HEAP_KB = 256 * 1024
# native: the port's own collector runs; 64-bit objects are ~1.9x an ESP32's, so 2 MB is
# roomy for an app that fits an ESP32's ~112 KB
NATIVE_HEAP_KB = 2048


def _banner_machine(profile: dict | None) -> str:
    """What MicroPython's banner and `os.uname().machine` say: MICROPY_HW_BOARD_NAME " with "
    MICROPY_HW_MCU_NAME, e.g. "Generic ESP32S3 module with ESP32S3" (ports/esp32 boards)."""
    chip = (profile or {}).get("chip", "esp32").upper()
    return f"Generic {chip} module with {chip}"


def uname(profile: dict | None) -> tuple[str, str, str, str, str]:
    """`os.uname()` of the esp32 port: sysname, nodename, release, version, machine."""
    release = VERSION.split()[0].removeprefix("v")
    return ("esp32", "esp32", release, VERSION, _banner_machine(profile))


class AppDevice(Console, HostCalls):
    """A virtual ESP32 running MicroPython, seen from its serial port.

    fs_dir: host folder that is the board's `/` (files `mpremote fs cp` writes land here).
    write: called with the bytes the board sends to the serial client (from any thread).
    scenario: a world to drive the models with (used when `hw` is built here): an object with
        any of `distance_mm(t_us) -> mm | None`, `battery_v(t_us) -> V` (or a number),
        `accel(t_s) -> (x, y, z) g`; or a scenario file path / dict / `Scenario` of the obstacle
        simulator (see `world.ScenarioWorld`); or None (nothing in range, 3.9 V, lying still).
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
        flash (a `flash.Flash`, the board's SPI flash: `esp32.Partition` reads the partition
        table in it; a filesystem partition whose first sector is erased is formatted at power-on
        as the port's inisetup does, the folder's old files moved aside; None: no partitions),
        build ("stock": no ROMFS, as every esp32 download of MicroPython 1.25-1.28; "romfs": a
        build with MICROPY_VFS_ROM, whose vfs.rom_ioctl gives the "romfs" partition and which
        mounts a ROMFS image there at /rom at boot; "auto" (default): "romfs" when the firmware
        in `flash` names vfs.rom_ioctl, else "stock"),
        runtime ("native": the Unix port with its frozen asyncio, heap_kb default 2 MB;
        "wasi": the 32-bit WASI build, see DEFAULT_HEAP_KB), cpu_scale (native: 0, computation
        takes no virtual time; > 0 charges the VM's CPU time times this factor).
    """

    def __init__(self, fs_dir: str | Path, write: Callable[[bytes], None], scenario=None, *,
                 board=None, hardware: hwmod.Hardware | None = None, heap_kb: int | None = None,
                 speed: float | None = None, fuel_per_us: int = 300,
                 interrupt_grace_s: float = 0.5, mounts: dict[str, str | Path] | None = None,
                 boot: bool = True, rom_log: bool = True, real_gc: bool = False,
                 flash=None, runtime: str = "native", cpu_scale: float = 0.0,
                 build: str = "auto"):
        if runtime not in RUNTIMES:
            raise RetrorunError(f"unknown MicroPython runtime {runtime!r}; use one of "
                                + ", ".join(RUNTIMES))
        if build not in BUILDS:
            raise RetrorunError(f"unknown MicroPython build {build!r}; use one of "
                                + ", ".join(BUILDS))
        if build == "auto":
            build = "stock" if flash is None else vbflash.firmware_build(flash)
        self.build = build
        self.fs_dir = Path(fs_dir)
        if not self.fs_dir.is_dir():
            raise RetrorunError(f"board filesystem folder {self.fs_dir} does not exist; "
                                "create it or pass another --fs")
        self._write_cb = write
        self._board_arg = board
        self._own_hw = hardware is None
        self.profile, profile_note = _profile(board, self.fs_dir)
        if isinstance(scenario, (str, Path, dict)):
            scenario = world.ScenarioWorld(scenario)
        if hardware is None:
            hardware = wiring.from_profile(
                self.profile,
                distance_mm=getattr(scenario, "distance_mm", None),
                battery_v=getattr(scenario, "battery_v", 3.9),
                accel=getattr(scenario, "accel", None))
        self.hw = hardware
        self.hw.on_event = self._wake
        self.hw.repl_input = self.on_data  # bytes on the REPL UART's pins (hw.REPL_UART_PINS)
        if profile_note:
            self.hw.notes.append(profile_note)
        if isinstance(scenario, world.ScenarioWorld):
            scenario.apply(hardware, self.profile)
        self.scenario = scenario
        self.runtime = runtime
        self.cpu_scale = cpu_scale
        self.heap_kb = heap_kb or (NATIVE_HEAP_KB if runtime == "native" else DEFAULT_HEAP_KB)
        self.speed = speed
        self.fuel_per_us = fuel_per_us
        self.interrupt_grace_s = interrupt_grace_s
        self.mounts = {DEVICE_MOUNT: DEVICE_DIR, **{k: Path(v) for k, v in (mounts or {}).items()}}
        self.rom_log = rom_log
        self.real_gc = real_gc
        self.flash = flash
        self.banner = (f"MicroPython {VERSION}; {_banner_machine(self.profile)}\r\n"
                       "Type \"help()\" for more information.\r\n").encode()

        if runtime == "wasi":
            from retrorun.devtools.vboard.runtime_wasi import WasiRuntime

            self._wasi = WasiRuntime()
        else:
            from retrorun.devtools.vboard import runtime_native

            runtime_native.command()  # one clear error line when the runtime is missing
        self._vm = None  # the running VM (one per boot)

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
        self._kill: Reboot | None = None  # why the VM is being stopped from outside
        self._closed = False
        self._boot_us = 0
        self.reboots = 0
        self.write_errors = 0
        self.dead = False
        self.vm_ready = threading.Event()
        self._thread = threading.Thread(target=self._vm_main, name="vboard-vm", daemon=True)
        self._first_boot = boot
        self.busy = True
        self._thread.start()

    # ---- output -------------------------------------------------------------------------------
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
            vm = self._vm
            if self._kbd and self._current is not None and self._kill is None and vm:
                sent = vm.interrupt()
                if sent:  # a SIGINT: the guest raises KeyboardInterrupt itself
                    self._kbd = False
                if sent is not False:
                    return
                self._kill = Reboot("interrupt")
                vm.stop()

    def _cancel_kbd_timer(self) -> None:
        if self._kbd_timer is not None:
            self._kbd_timer.cancel()
            self._kbd_timer = None

    def _request_reboot(self, reboot: Reboot) -> None:
        with self._lock:
            if self._kill is None:
                self._kill = reboot
            self.busy = True
            self._cond.notify_all()
            self._wake()
            self._stop_vm()

    def _wake(self) -> None:
        self._wake_event.set()

    # ---- public control ---------------------------------------------------------------------
    def reset(self, hard: bool) -> None:
        """Hard reset (EN pin / power cycle) or soft reboot, as the board process decides."""
        with self._lock:
            if hard:
                self._pending.clear()
                self._rawpaste = None
                self._request_reboot(Reboot("hard", hwmod.HARD_RESET))
            else:
                self._out(b"MPY: soft reboot\r\n")
                self._request_reboot(Reboot("soft_raw" if self.mode == "raw" else "soft"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._kill = Reboot("close")
            self._cond.notify_all()
            self._wake()
            self._stop_vm()
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
        reason = Reboot("power") if self._first_boot else Reboot("none")
        crashes = 0
        while not self._closed:
            self._boot_plan(reason)
            try:
                self._run_vm()
                reason = Reboot("soft")  # the guest loop never ends by itself
            except Reboot as reboot:
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
                    reason = Reboot("crash")
                    self._out_cooked(f"\nvboard: MicroPython VM stopped ({str(exc).splitlines()[0]});"
                                     " restarting\n".encode())
                else:
                    reason = kill
            with self._lock:
                self._kill = None
            if reason.kind == "close":
                return

    def _boot_plan(self, reason: Reboot) -> None:
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
                if isinstance(self.scenario, world.ScenarioWorld) and kind == "hard":
                    self.scenario.restart(self.hw, self.profile)
                self.hw.on_reboot(True, reason.cause if kind == "hard" else hwmod.PWRON_RESET)
                if self.rom_log:
                    self._out(_rom_log(reason.cause if kind == "hard" else hwmod.PWRON_RESET))
                if self.flash is not None and vbflash.filesystem_blank(self.flash):
                    self._initial_setup()
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

    def _initial_setup(self) -> None:
        """As the esp32 port's start-up on a blank filesystem partition (inisetup): a new, empty
        filesystem with a boot.py. The folder's old files are moved aside, not deleted."""
        old = sorted(self.fs_dir.iterdir())
        if old:
            n = 1
            while (aside := self.fs_dir.with_name(f"{self.fs_dir.name}.before-format-{n}")
                   ).exists():
                n += 1
            aside.mkdir()
            for path in old:
                path.rename(aside / path.name)
            self.hw.notes.append(f"filesystem formatted at boot; its old files are in {aside}")
        (self.fs_dir / "boot.py").write_text("# boot.py: runs on every boot, before main.py\n")
        vbflash.mark_formatted(self.flash)
        self._out(b"Performing initial setup\r\n")

    def _rewire(self) -> None:
        """At a hard reset, a board.json deployed since (and no explicit board) rewires the
        hardware built here: the virtual board becomes the board that profile describes."""
        if self._board_arg is not None or not self._own_hw:
            return
        profile, note = _profile(None, self.fs_dir)
        if profile == self.profile or note:
            return
        self.profile = profile
        wiring.wire_profile(self.hw, profile)  # (scenario faults stay as first scheduled)
        self.banner = (f"MicroPython {VERSION}; {_banner_machine(profile)}\r\n"
                       "Type \"help()\" for more information.\r\n").encode()

    def _after_main(self, err: str) -> None:
        if err == "\x00":
            self._out(b"MPY: soft reboot\r\n")
            self._request_reboot(Reboot("soft"))
            return
        if err:
            self._out_cooked(err.encode())
        if self.mode == "raw":
            self._out(RAW_BANNER + b">")
        else:
            self._out(self.banner + b">>> ")

    def _after_boot(self, err: str) -> None:
        self._out(RAW_BANNER + b">")

    def _stop_vm(self) -> None:
        vm = self._vm
        if vm is not None:
            vm.stop()

    def _run_vm(self) -> None:
        paths = [DEVICE_MOUNT, "", ".frozen", "/lib"] + [m for m in self.mounts
                                                           if m != DEVICE_MOUNT]
        if self.runtime == "wasi":
            from retrorun.devtools.vboard.runtime_wasi import WasiVM

            vm = WasiVM(self._wasi, self, DEVICE_DIR, self.fs_dir, self.mounts, paths,
                        self.heap_kb, self.real_gc, self.fuel_per_us)
        else:
            from retrorun.devtools.vboard.runtime_native import NativeVM

            vm = NativeVM(self, DEVICE_DIR, self.fs_dir, self.mounts, paths, self.heap_kb,
                          self.cpu_scale)
        with self._lock:
            self._vm = vm
            stop = self._kill is not None
        if stop:
            vm.stop()
        try:
            vm.run()
        finally:
            with self._lock:
                self._vm = None


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
