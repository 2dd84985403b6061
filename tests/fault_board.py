"""A deployed board on the virtual board for the never-silent and fault-injection tests.

`FaultBoard` is a board profile as `retrorun deploy` leaves it (parts swapped or unplugged,
the filesystem changed before power-on, sessions already on flash), running the real app on
the virtual board with a scripted world (`Script`: what is behind the runner, by board time).
What the runner feels is read from the haptic output: `levels()` is `drive_levels` (board time
since power-on), `haptics_file()` the JSON lines `retrorun vboard --haptics` writes. Patterns
are recognised by their rhythm (docs/haptics.md): `first_pattern` says which plays first after
a moment and when it starts.

Session data: `sessions_now()` reads every session file at a moment of board time (inside
the virtual clock, while the app waits on it), `assert_kept(before, after)` checks that every
valid record of a file then is still in the file later, byte for byte, and `history` sessions
made before power-on (the device's own SessionWriter) must decode unchanged at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

from waiting import wait_until

from retrorun.devtools.vboard import wiring
from retrorun.devtools.vboard.deployed import board_folder
from retrorun.devtools.vboard.faults import FlashSpace
from retrorun.devtools.vboard.flash import Flash
from retrorun.devtools.vboard.haptic_out import HapticsWriter, drive_levels
from retrorun.devtools.vboard.repl import AppDevice
from retrorun.provision.boards import get_board
from retrorun.sessions.logs import decode_bytes

# docs/haptics.md: on/off alternating from "on", in ms
FAULT_MS = (400, 100, 100, 100, 100, 700)
WARNING_MS = (120, 130, 120, 130)
NOTICE_MS = (80, 920, 80)
STOP_MIN_MS = 600  # STOP is the only pattern without a pause; FAULT's longest "on" is 400 ms
TOLERANCE_MS = 40  # a blocking HC-SR04 echo timeout delays the 20 ms motor tick (~30 ms)
VL53L1X = {"kind": "vl53l1x", "address": 0x29}
DRV2605_ERM = {"kind": "drv2605", "address": 0x5A, "actuator": "erm"}


class Script:
    """What is behind the runner: [(from_us, mm or None)] in board time (None: nothing)."""

    def __init__(self, *steps: tuple[int, int | None]):
        self.steps = sorted(steps)

    def distance_mm(self, t_us):
        mm = None
        for start, value in self.steps:
            if t_us >= start:
                mm = value
        return mm


class Wobble(Script):
    """From `from_us` on, something moving to and fro around `center_mm` (+-`swing_mm` at
    0.8 m/s): it never keeps its distance, so it never settles to the standing-still reminder
    (retrofw.alerts) and the app plays the level of that distance all along."""

    def __init__(self, center_mm: int, swing_mm: int = 200, from_us: int = 0):
        super().__init__(*(((0, None),) if from_us else ()), (from_us, center_mm))
        self.center_mm, self.swing_mm, self.from_us = center_mm, swing_mm, from_us

    def distance_mm(self, t_us):
        if t_us < self.from_us:
            return None
        period = 4 * self.swing_mm * 1250  # there and back, 1250 us per mm at 0.8 m/s
        phase = (t_us - self.from_us) % period
        half = period // 2
        up = phase if phase < half else period - phase
        return self.center_mm - self.swing_mm + 2 * self.swing_mm * up // half


class Near(Wobble):
    """Something 0.3-0.7 m behind the runner all the time: the app must warn (STOP)."""

    def __init__(self):
        super().__init__(500)


class FaultBoard:
    """A deployed board (see the module docstring). `board`: a profile name; `parts`: profile
    entries replaced; `unplug`: I2C addresses missing from power-on; `prepare(fs)`: changes to
    the filesystem before power-on; `history`: complete sessions already on flash (seconds
    each); `world`: a `Script`; `space`: the filesystem can be given a size
    (faults.FlashSpace, as `flash_space`), `free_bytes`: and it is full but for these at
    power-on; `rtc`: RTC memory at power-on; `serve`: behind a socket:// port
    (`self.port`) for the CLI."""

    def __init__(self, tmp_path: Path, board: str = "esp32-devkitc", parts=None, unplug=(),
                 prepare=None, history=(), world=None, space=False, free_bytes=None, rtc=b"",
                 serve=False, config=None):
        spec = get_board(board)
        self.profile = {**spec.profile, **(parts or {})}
        fs, flash_path = board_folder(spec, tmp_path, config=config)
        (fs / "board.json").write_text(json.dumps(self.profile))
        self.fs = fs
        self.tmp = tmp_path
        self.history: dict[str, bytes] = {}
        if history:
            from session_factory import make_session

            for seconds in history:
                path = make_session(fs, seconds=seconds)
                self.history[path.name] = path.read_bytes()
        if prepare is not None:
            prepare(fs)
        hw = wiring.from_profile(self.profile, distance_mm=getattr(world, "distance_mm", None))
        hw.rtc_memory = rtc
        for address in unplug:
            hw.i2c[self.profile.get("i2c", {}).get("id", 0)].devices.pop(address)
        self.flash_space = None
        if space or free_bytes is not None:
            self.flash_space = hw.flash_space = FlashSpace(fs, hw)
            if free_bytes is not None:
                self.flash_space.fill(free_bytes)
        self.led: list[tuple[int, int]] = []
        hw.pin_listeners.setdefault(self.profile["led"]["pin"], []).append(
            lambda level: self.led.append((hw.now_us, level)))
        self.out = bytearray()
        self.hw = hw
        self.at_exit: list[tuple[str, float]] = []  # (reset / deep sleep, drive then)
        self.rtc_at_exit: list[bytes] = []  # RTC memory as each exit left it (before the reboot)
        board_self = self

        class ExitSpy(list):
            def append(self, item):
                if item[1].startswith(("reset", "deep sleep")) and \
                        not item[1].startswith("deep sleep ends"):
                    board_self.rtc_at_exit.append(bytes(hw.rtc_memory or b""))
                    board_self.at_exit.append((item[1].split()[0], board_self.level_now()))
                super().append(item)

        hw.log = ExitSpy(hw.log)
        self.vboard = None
        self.flash = None
        if serve:
            import threading

            from retrorun.devtools.vboard.board import VirtualBoard

            def factory(fs_dir, write, scenario=None, flash=None):
                def both(data):
                    self.out.extend(data)
                    write(data)
                return AppDevice(fs_dir, both, board=self.profile, flash=flash, hardware=hw)

            self.vboard = VirtualBoard(mode="app", listen="socket", fs_dir=fs,
                                       flash_path=flash_path, app_factory=factory)
            self._serving = threading.Thread(target=self.vboard.serve_forever, daemon=True)
            self._serving.start()
            self.dev = self.vboard.app
            self.port = self.vboard.port
        else:
            self.flash = Flash(flash_path)
            self.dev = AppDevice(fs, self.out.extend, board=self.profile, flash=self.flash,
                                 hardware=hw)

    # -- the run ---------------------------------------------------------------------------
    def run_until(self, us: int) -> None:
        assert wait_until(lambda: self.hw.now_us >= us), self.out[-800:]

    def press(self, at_us: int, duration_us: int = 150_000) -> None:
        button = self.profile["button"]
        with self.hw.lock:
            self.hw.press_button(button["pin"], at_us, duration_us,
                                 active_low=button.get("active_low", True))

    def at(self, at_us: int, action) -> None:
        """Run `action()` at board time `at_us` (inside the virtual clock)."""
        self.hw.schedule(at_us, action)

    def resets(self) -> list[str]:
        return [w for _, w in self.hw.log if w.startswith(("reset", "watchdog"))]

    def events(self, prefix: str) -> list[int]:
        """Board times of the hardware log's entries starting with `prefix`."""
        return [t for t, w in self.hw.log if w.startswith(prefix)]

    def close(self) -> None:
        if self.vboard is not None:
            self.vboard.stop()
            self._serving.join(timeout=10)
            self.vboard.close()
        else:
            self.dev.close()
            self.flash.close()

    # -- what the runner feels -------------------------------------------------------------
    def levels(self) -> list[tuple[int, float]]:
        with self.hw.lock:
            return drive_levels(self.hw, self.profile)

    def level_now(self) -> float:
        points = drive_levels(self.hw, self.profile)
        return points[-1][1] if points else 0.0

    def led_levels(self) -> list[tuple[int, float]]:
        on = 0 if self.profile["led"].get("active_low") else 1
        return [(t, 1.0 if level == on else 0.0) for t, level in self.led]

    def haptics_file(self) -> list[tuple[int, float]]:
        """The output as `retrorun vboard --haptics FILE` writes it (JSON lines of virtual
        seconds since the last reset), read back as [(us since that reset, level)]."""
        path = self.tmp / "haptics.jsonl"
        with self.hw.lock:
            HapticsWriter(path).poll(self.dev)
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert all(set(p) == {"t_s", "level"} for p in lines), lines[:3]
        return [(round(p["t_s"] * 1e6), p["level"]) for p in lines]

    # -- session data ----------------------------------------------------------------------
    def session_files(self) -> dict[str, bytes]:
        folder = self.fs / "sessions"
        return {p.name: p.read_bytes() for p in sorted(folder.glob("*.rrl")) if p.is_file()}

    def sessions_at(self, at_us: int) -> dict[str, bytes]:
        """Every session file as it is at board time `at_us` (filled in then)."""
        got: dict[str, bytes] = {}
        self.at(at_us, lambda: got.update(self.session_files()))
        return got

    def assert_history_intact(self) -> None:
        """The sessions made before power-on are all there and decode with every record."""
        now = self.session_files()
        for name, data in self.history.items():
            assert now.get(name) == data, f"{name} changed or is gone"
            decoded = decode_bytes(data)
            assert not decoded.problems and decoded.by_kind.get("footer") == 1


def assert_kept(before: bytes, after: bytes) -> int:
    """Every valid frame of `before` is in `after` at the same offset, byte for byte (a torn
    tail of `before` may be cut). Returns the number of records kept."""
    records = decode_bytes(before).records
    assert records, "nothing to keep"
    for r in records:
        start = r["offset"]
        end = start + before[start + 2] + 5  # wire.LOG_FRAME_OVERHEAD
        assert after[start:end] == before[start:end], f"record at offset {start} lost"
    got = decode_bytes(after)
    assert not [p for p in got.problems if p["problem"] == "damaged"], got.problems
    return len(records)


# -- rhythm ------------------------------------------------------------------------------------
def segments(points, until_us: int) -> list[tuple[int, bool, float]]:
    """[(start_us, on, ms)] of the on/off stretches of a [(t_us, level)] timeline."""
    out: list[tuple[int, bool, float]] = []
    for (t, level), nxt in zip(points, [*points[1:], (until_us, None)], strict=True):
        if t >= until_us:
            break
        on = level > 0
        ms = (min(nxt[0], until_us) - t) / 1000
        if out and out[-1][1] == on:
            out[-1] = (out[-1][0], on, out[-1][2] + ms)
        else:
            out.append((t, on, ms))
    return out


def _matches(got, want) -> bool:
    return len(got) >= len(want) and all(
        abs(g - w) <= TOLERANCE_MS for g, w in zip(got, want, strict=False))


def first_pattern(points, after_us: int, until_us: int) -> tuple[str, int, list[int]]:
    """The pattern that starts first at or after `after_us`: ("stop" | "warning" | "notice" |
    "fault" | "other" | "silent", its start in board us, the on/off ms seen from there)."""
    segs = [s for s in segments(points, until_us) if s[0] >= after_us or s[0] + s[2] * 1000
            > after_us]
    start = next((i for i, s in enumerate(segs) if s[1] and s[0] >= after_us), None)
    if start is None:
        return "silent", until_us, []
    t0 = segs[start][0]
    ms = [round(s[2]) for s in segs[start:start + 12]]
    if ms[0] >= STOP_MIN_MS:
        return "stop", t0, ms
    for name, want in (("fault", FAULT_MS * 2), ("warning", WARNING_MS), ("notice", NOTICE_MS)):
        if _matches(ms, want):
            return name, t0, ms
    return "other", t0, ms


def on_since(points, since_us: int) -> bool:
    """The output is on at `since_us` (a stretch that began before it still counts)."""
    level = 0.0
    for t, value in points:
        if t > since_us:
            break
        level = value
    return level > 0


def assert_plays(points, name: str, after_us: int, until_us: int, within_ms: int = 1000) -> int:
    """`name` is the first pattern to start after `after_us`, within `within_ms`; returns the
    delay in ms."""
    got, t0, ms = first_pattern(points, after_us, until_us)
    delay = (t0 - after_us) / 1000
    assert got == name and delay <= within_ms, (got, delay, ms)
    return round(delay)
