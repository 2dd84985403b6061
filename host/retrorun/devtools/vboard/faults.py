"""Fault injection on the virtual board: what can go wrong with the hardware around the app.

Each function schedules a fault on the board's virtual clock (`at_us`, absolute board time;
None: now) and, with `for_us`, its end. The faults behave as the hardware does, so the app
under test meets them as it would on a board:

- `unplug_distance` / `sensor_fault`: the distance sensor stops answering (I2C NACK, UART
  silence, no ECHO) or its chip model misbehaves ("frozen", "sunlight", "overexposed",
  "stuck_low", ...: the model's own `fault` names, retrorun.devtools.models).
- `nack(hw, address)`: one I2C device NACKs every transfer (ENODEV, as the esp32 port maps
  ESP_FAIL) while it keeps its registers and its output (a glitch, not a power loss).
- `hold_sda_low(hw, bus_id)`: SDA held low (a chip hung mid-byte, a short): every transfer on
  the bus fails after the bus timeout with ETIMEDOUT, scan() finds nothing. MicroPython 1.27's
  esp32 machine_i2c.c maps ESP_ERR_TIMEOUT to MP_ETIMEDOUT, and ESP-IDF's legacy i2c.c reports
  "SDA/SCL connected to ground" as I2C_STATUS_TIMEOUT -> ESP_ERR_TIMEOUT; the port's errno is
  newlib's (MICROPY_USE_INTERNAL_ERRNO 0), where ETIMEDOUT is 116 (Linux: 110). The time a
  failed transfer takes is assumed to be the controller's bus timeout: machine.I2C's 50 ms
  clamped to the ESP32's TIME_OUT register (0xFFFFF APB cycles at 80 MHz = 13.1 ms).
- `hang(hw, match)`: the next host call `match` accepts (e.g. an I2C read of the IMU) never
  returns: a task that stops yielding (a driver loop waiting for a bit that never comes, a
  bug). MicroPython's asyncio runs one task at a time, so the whole app stops; virtual time
  runs on, and only the watchdog (or Ctrl-C) gets the board out of it.
- `power_cut(hw)`: the supply is gone and back: every chip's registers at their power-on
  state, RTC memory lost, the ESP32 starts with POWERON_RESET.
- `FlashSpace`: the board's filesystem with a size (the flash full, ENOSPC) and a power cut
  in the middle of a write (a torn tail). The guest mounts a size-limited view of its folder
  (device/_vbspace.py) when `hw.flash_space` is set before the board boots.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from pathlib import Path

from retrorun.devtools.models.bus import I2CBus

ETIMEDOUT_ESP32 = 116  # newlib's ETIMEDOUT: what OSError.errno is on an ESP32
ENOSPC = 28
I2C_STUCK_US = 13_107  # assumed: 0xFFFFF APB cycles at 80 MHz, the ESP32's bus timeout
STATVFS_BLOCK = 4096
# what os.statvfs answers without a size: a 2 MB littlefs partition, 448 of 512 blocks free
DEFAULT_BLOCKS = (512, 448)


def _at(hw, at_us: int | None, action: Callable[[], None]) -> None:
    if at_us is None:
        with hw.lock:
            action()
    else:
        hw.schedule(at_us, action)


def _window(hw, at_us, for_us, start, end) -> None:
    _at(hw, at_us, start)
    if for_us is not None:
        begin = hw.now_us if at_us is None else at_us
        hw.schedule(begin + for_us, end)


def _i2c_bus(hw, profile: dict) -> I2CBus:
    return hw.i2c.setdefault(profile.get("i2c", {}).get("id", 0), I2CBus())


def distance_model(hw, profile: dict):
    """The chip model of the profile's distance sensor (None: a trig/echo module's is
    `hw.ultrasonic`)."""
    distance = profile.get("distance", {})
    if "address" in distance:
        return _i2c_bus(hw, profile).devices.get(distance["address"])
    if "uart" in distance:
        return hw.uart_models.get(distance["uart"]["id"])
    return hw.ultrasonic


def unplug_distance(hw, profile: dict, at_us: int | None = None,
                    for_us: int | None = None) -> None:
    """The distance sensor's cable is pulled: an I2C chip NACKs, a UART module goes silent, a
    trig/echo module gives no echo."""
    distance = profile.get("distance", {})

    def set_to(unplugged: bool) -> None:
        hw.log.append((hw.now_us, ("unplugged " if unplugged else "replugged ")
                       + distance.get("kind", "sensor")))
        if "address" in distance:
            addrs = _i2c_bus(hw, profile).unplugged
            (addrs.add if unplugged else addrs.discard)(distance["address"])
        else:
            model = distance_model(hw, profile)
            if model is not None:
                model.fault = ("unplugged" if "trig" in distance else "silent") \
                    if unplugged else None

    _window(hw, at_us, for_us, lambda: set_to(True), lambda: set_to(False))


def sensor_fault(hw, profile: dict, fault: str, at_us: int | None = None,
                 for_us: int | None = None) -> None:
    """The distance sensor's chip model gets `fault` (its own names: "frozen", "sunlight",
    "overexposed", "stuck_low", "stuck_high", ...)."""
    def set_to(value: str | None) -> None:
        model = distance_model(hw, profile)
        hw.log.append((hw.now_us, f"{profile['distance']['kind']} {value or 'fault cleared'}"))
        model.fault = value

    _window(hw, at_us, for_us, lambda: set_to(fault), lambda: set_to(None))


def nack(hw, address: int, at_us: int | None = None, for_us: int | None = None,
         bus_id: int = 0) -> None:
    """The I2C device at `address` NACKs every transfer (the chip keeps its state)."""
    bus = hw.i2c.setdefault(bus_id, I2CBus())

    def set_to(on: bool) -> None:
        hw.log.append((hw.now_us, f"I2C 0x{address:02x} {'NACKs' if on else 'answers again'}"))
        (bus.unplugged.add if on else bus.unplugged.discard)(address)

    _window(hw, at_us, for_us, lambda: set_to(True), lambda: set_to(False))


def hold_sda_low(hw, bus_id: int = 0, at_us: int | None = None,
                 for_us: int | None = None) -> None:
    """SDA of I2C bus `bus_id` held low: see the module docstring."""
    def set_to(held: bool) -> None:
        hw.log.append((hw.now_us, f"I2C bus {bus_id} SDA {'held low' if held else 'released'}"))
        (hw.i2c_held_low.add if held else hw.i2c_held_low.discard)(bus_id)

    _window(hw, at_us, for_us, lambda: set_to(True), lambda: set_to(False))


def hang(hw, match: Callable[[str], bool], at_us: int | None = None) -> None:
    """From `at_us` on, the first host call `match(command)` accepts (the machine shim's
    command text, e.g. "Ir0 104 114 2" for an I2C read at 0x68) never returns; once."""
    def arm() -> None:
        def stall(command: str) -> bool:
            if not match(command):
                return False
            hw.stall = None
            hw.log.append((hw.now_us, f"hung in {command!r}"))
            return True
        hw.stall = stall

    _at(hw, at_us, arm)


def i2c_call_to(address: int) -> Callable[[str], bool]:
    """A `hang` matcher: any I2C transfer with the device at `address`."""
    def match(command: str) -> bool:
        parts = command.split()
        return command[:1] == "I" and command[1:2] in "rwRW" and len(parts) > 1 \
            and parts[1] == str(address)
    return match


def power_cut(hw) -> None:
    """The supply drops out and comes back now (see the module docstring)."""
    from retrorun.devtools.vboard.hw import PWRON_RESET

    with hw.lock:
        hw.log.append((hw.now_us, "power cut"))
        hw.rtc_memory = b""
        for bus in hw.i2c.values():
            for model in bus.devices.values():
                getattr(model, "power_cycle", lambda: None)()
        for model in hw.uart_models.values():
            getattr(model, "power_cycle", lambda: None)()
        hw.request_reset("hard", PWRON_RESET)


class FlashSpace:
    """The board's filesystem (the host folder `fs_dir`) with a size, and power cuts during
    writes. Set it as `hw.flash_space` before the board boots: the guest then asks it before
    every write (`may_write`) and for os.statvfs (`statvfs`).

    Space is counted in bytes of file data (littlefs allocates 4 KB blocks and inlines small
    files; a byte count is the simple, predictable version of that). `fill(free_bytes)` makes
    the flash full but for `free_bytes` from now on: deleting files frees space again.
    `cut_power_in_write(pattern, after_bytes)`: the next write to a file whose board path
    matches `pattern` (fnmatch, e.g. "/sessions/*.rrl") puts only its first `after_bytes` on
    flash, then the power is cut (`power_cut`)."""

    def __init__(self, fs_dir: str | os.PathLike, hw):
        self.fs_dir = Path(fs_dir)
        self.hw = hw
        self.capacity: int | None = None  # bytes of file data the filesystem holds
        self.refused: list[tuple[int, str, int]] = []  # (t_us, path, bytes) ENOSPC writes
        self._cut: tuple[str, int] | None = None
        self.cut_at: tuple[int, str, int, int] | None = None  # (t_us, path, asked, written)
        self.before_cut = b""  # the file as it was on flash before the write the cut tore

    def used(self) -> int:
        total = 0
        for folder, _dirs, files in os.walk(self.fs_dir):
            for name in files:
                try:
                    total += os.stat(os.path.join(folder, name)).st_size
                except OSError:
                    pass
        return total

    def free(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.used())

    def fill(self, free_bytes: int = 0, at_us: int | None = None) -> None:
        def act() -> None:
            self.capacity = self.used() + free_bytes
            self.hw.log.append((self.hw.now_us, f"flash full ({free_bytes} bytes free)"))
        _at(self.hw, at_us, act)

    def unlimited(self, at_us: int | None = None) -> None:
        def act() -> None:
            self.capacity = None
        _at(self.hw, at_us, act)

    def cut_power_in_write(self, pattern: str, after_bytes: int, at_us: int | None = None) -> None:
        def arm() -> None:
            self._cut = (pattern, after_bytes)
        _at(self.hw, at_us, arm)

    # -- the guest's questions (hostcalls "S") --------------------------------------------
    def statvfs(self) -> str:
        """"blocks free_blocks" of 4 KB."""
        free = self.free()
        if free is None:
            return "{} {}".format(*DEFAULT_BLOCKS)
        blocks = max(1, -(-self.capacity // STATVFS_BLOCK))
        return f"{blocks} {free // STATVFS_BLOCK}"

    def may_write(self, path: str, nbytes: int, grow: int) -> str:
        """How many of `nbytes` the write may put on flash: all, "E28" (full: none), or fewer
        when the power is cut in this write (the guest writes them, then its next host call
        finds the board reset)."""
        if not path.startswith("/"):
            path = "/" + path
        cut = self._cut
        if cut is not None and fnmatch.fnmatch(path, cut[0]):
            self._cut = None
            written = max(0, min(nbytes - 1, cut[1]))
            self.cut_at = (self.hw.now_us, path, nbytes, written)
            try:
                self.before_cut = (self.fs_dir / path.lstrip("/")).read_bytes()
            except OSError:
                self.before_cut = b""
            power_cut(self.hw)
            return str(written)
        free = self.free()
        if free is not None and grow > free:
            self.refused.append((self.hw.now_us, path, nbytes))
            return f"E{ENOSPC}"
        return str(nbytes)
