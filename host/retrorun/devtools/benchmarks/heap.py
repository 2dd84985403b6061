"""`retrorun bench heap [--board B] [--session-s S] [--json]`: the app's RAM on the MicroPython
heap, measured.

The acceptance figure is the heap high-water during a session, measured on the virtual board
with the firmware deployed as a ROMFS image (`retrorun.devtools.benchmarks.heap_session`; skipped with
`--session-s 0`). Around it, a static breakdown: each figure is the live heap (`gc.mem_alloc()`
right after `gc.collect()`) in a fresh MicroPython VM (the WASI build, 8 MB heap so nothing is
collected by surprise) whose `/lib` holds the firmware exactly as `retrorun deploy` compiles it,
minus the live heap of the same VM before the step:

- `code_bytes`: importing what the app imports for the board (app, its cores, the drivers the
  profile names; `ble_code_bytes` adds the BLE modules) from `.mpy` files on the filesystem
  (deploy's fallback layout): MicroPython copies their bytecode onto the heap.
- `in_place_code_bytes` (and `in_place_ble_code_bytes`): the same imports from the ROMFS image
  deploy writes (`retrorun.provision.deploy.romfs_image`, mounted with `vfs.VfsRom`), where bytecode
  and constants are used in place from the memory-mapped image, as from a board's romfs partition;
  only module objects, their globals and classes are on the heap.
The app's working data (cores, buffers, an open session) is what the session part measures on
the running app; no core is built here. The per-tick allocation check runs the app's own per-tick methods on the running app, in the
session part (heap_session.py, `tick_methods_allocating`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from retrorun.cli import output
from retrorun.devtools.mpy import NO_GC_HEAP_KB, MicroPython
from retrorun.provision.boards import get_board

TARGET_KB = 48

# Stand-ins for `machine` and `asyncio` (built into the board's firmware) for importing app.py
# off-board; their own cost is measured and removed.
_MACHINE_STUB = """
class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 2
class PWM:
    pass
class I2C:
    pass
class UART:
    pass
class ADC:
    ATTN_11DB = 3
class WDT:
    pass
def deepsleep(ms=0):
    pass
def reset():
    pass
"""

_DRIVERS = {"hcsr04": "retrofw.drivers.hcsr04", "uart_ultrasonic": "retrofw.drivers.uart_ultrasonic",
            "vl53l1x": "retrofw.drivers.vl53l1x", "tfluna": "retrofw.drivers.tfluna",
            "erm_pwm": "retrofw.drivers.erm", "drv2605": "retrofw.drivers.drv2605",
            "mpu6050": "retrofw.drivers.mpu6050", "mpu6500": "retrofw.drivers.mpu6050",
            "lsm6ds3": "retrofw.drivers.lsm6ds", "lsm6dso": "retrofw.drivers.lsm6ds"}

def add_arguments(parser) -> None:
    parser.add_argument("--board", default="esp32-devkitc", help="board profile (default "
                                                                 "esp32-devkitc)")
    parser.add_argument("--layout", choices=("files", "romfs"), default="files",
                        help="how the session run's board holds the firmware: files (.mpy in "
                             "/lib, what a stock MicroPython download runs; default) or romfs "
                             "(a custom build with ROMFS, code in place in flash)")
    parser.add_argument("--session-s", type=float, default=30.0,
                        help="virtual seconds of the session run on the virtual board "
                             "(default 30; 0 skips it)")


def _deployed_fs(board) -> Path:
    """A folder holding the firmware as deploy compiles it, and fs/romfs.img: its ROMFS image
    (`retrorun.provision.deploy.romfs_image`, what deploy writes to the romfs partition)."""
    from retrorun.provision.deploy import firmware_files, romfs_image

    fs = Path(tempfile.mkdtemp(prefix="retrorun-bench-heap-"))
    files = firmware_files(board)
    for path, data in files.items():
        target = fs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (fs / "romfs.img").write_bytes(romfs_image(files))
    (fs / "sessions").mkdir(exist_ok=True)
    return fs


_ROM_PREAMBLE = ("import vfs\nf = open('/romfs.img', 'rb')\nimg = f.read()\nf.close()\n"
                 "vfs.mount(vfs.VfsRom(img), '/rom')\nsys.path.insert(0, '/rom/lib')\n"
                 "sys.path.insert(0, '/stub')\n")


def _live(mpy: MicroPython, fs: Path, body: str, rom: bool = False) -> int:
    """Live heap after running `body` at the top level of a fresh VM, net of the VM before it
    (with `rom`: imports come from the ROMFS image, whose own bytes are not counted)."""
    path = _ROM_PREAMBLE if rom else "sys.path.insert(0, '/lib')\n"
    code = ("import sys, gc, micropython\n" + path + "gc.collect()\n"
            "base = gc.mem_alloc()\n" + body + "\ngc.collect()\nresult = gc.mem_alloc() - base\n")
    return int(mpy.eval(code, fs=fs, with_firmware=False))  # type: ignore[arg-type]


def app_modules(board) -> list[str]:
    """The app and the drivers its board profile names: what the code figures import."""
    profile = board.profile
    drivers = sorted({_DRIVERS[profile[part]["kind"]] for part in ("distance", "haptic", "imu")})
    return ["retrofw.app", *drivers]


def measure(board_name: str = "esp32-devkitc") -> dict:
    board = get_board(board_name)
    fs = _deployed_fs(board)
    lib = fs / "lib"
    for folder in (lib, fs / "stub"):
        folder.mkdir(exist_ok=True)
        (folder / "machine.py").write_text(_MACHINE_STUB)
        (folder / "asyncio.py").write_text("def run(main):\n    pass\n")
    mpy = MicroPython(heap_kb=NO_GC_HEAP_KB)
    imports = "".join(f"import {m}\n" for m in ["machine", "asyncio", *app_modules(board)])
    stub = _live(mpy, fs, "import machine\nimport asyncio")
    code = _live(mpy, fs, imports) - stub
    ble = _live(mpy, fs, imports + "import retrofw.ble.gatt\n") - stub - code
    rom_stub = _live(mpy, fs, "import machine\nimport asyncio", rom=True)
    rom_code = _live(mpy, fs, imports, rom=True) - rom_stub
    rom_ble = _live(mpy, fs, imports + "import retrofw.ble.gatt\n", rom=True) - rom_stub - rom_code
    return {
        "board": board.name,
        "code_bytes": code,
        "ble_code_bytes": ble,
        "in_place_code_bytes": rom_code,
        "in_place_ble_code_bytes": rom_ble,
        "target_bytes": TARGET_KB * 1024,
    }


def run(args) -> int:
    figures = measure(args.board)
    if args.session_s:
        from retrorun.devtools.benchmarks.heap_session import measure_session

        session = measure_session(args.board, seconds=args.session_s, layout=args.layout,
                                  static=figures)
        session["within_target"] = (session["recording_session"] is not None
                                    and session["session_peak_32bit_bytes"] <= TARGET_KB * 1024)
        figures["session"] = session
    if args.json:
        output.emit_json(figures)
        return 0
    kb = 1024
    f = figures
    output.table(f"App code on the heap, {f['board']} (fresh 32-bit MicroPython VM)",
                 ("part", ".mpy files: KB", "in place (ROMFS image): KB"), [
        ("code", f"{f['code_bytes'] / kb:.1f}", f"{f['in_place_code_bytes'] / kb:.1f}"),
        ("  + BLE modules", f"{f['ble_code_bytes'] / kb:.1f}",
         f"{f['in_place_ble_code_bytes'] / kb:.1f}"),
    ])
    output.console.print("(code only; the running app's heap, data included, is the session "
                         "figure below, the one to go by)", soft_wrap=True)
    s = f.get("session")
    if s:
        output.console.print(
            f"during a session on the virtual board ({s['layout']} layout, BLE off, "
            f"{s['virtual_s']:g} virtual s, {s['samples']} samples, session "
            f"{s['recording_session']} recording, native 64-bit MicroPython): heap high-water "
            f"{s['session_peak_bytes'] / kb:.1f} KB; on a 32-bit ESP32, estimated with the "
            f"measured 64/32-bit ratio of the app's import ({s['ratio_64_to_32']:.2f}): "
            f"{s['session_peak_32bit_bytes'] / kb:.1f} KB, target {TARGET_KB} KB "
            f"{'met' if s['within_target'] else 'NOT met'}; while a config read has the "
            f"settings loaded: {s['config_op_32bit_bytes'] / kb:.1f} KB (estimated)",
            soft_wrap=True)
        allocating = s["tick_methods_allocating"]
        output.console.print(
            "the running app's per-tick work (on_reading, motor_strength, on_imu, log_sample) "
            "with the heap locked: " + ("allocation-free" if not allocating else
                                        "allocates in " + ", ".join(allocating)),
            soft_wrap=True)
    return 0
