"""A deployed board with Bluetooth on the virtual board, for the end-to-end BLE tests.

`BleBoard` is the firmware as `retrorun deploy` leaves it (stock MicroPython, .mpy files, BLE
enabled in /config.json), with two finished sessions on flash and a pairing secret, running
the real app on the virtual board with its radio (vboard/radio.py: bumble). It serves the
USB REPL on a socket:// port (`port`, for mpremote and `retrorun --port`) and, with
`hci=True`, the radio's link on an HCI transport (`hci`, for `retrorun --ble-transport`).
`radio.link` is the bumble LocalLink other bumble devices join (the laptop's `_bleio`,
`radio.central()`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from waiting import wait_until

from retrofw import wire_ble
from retrorun.devtools.vboard.board import VirtualBoard
from retrorun.devtools.vboard.deployed import board_folder
from retrorun.devtools.vboard.repl import AppDevice
from retrorun.provision.boards import get_board

SECRET = bytes(range(32))
# the runner: 3 m/s on an open field, stepping at 172 spm (vboard/world.py gait)
WORLD = {"name": "ble_e2e", "seed": 3, "duration_s": 1800,
         "runner": {"start_mps": 3.0, "segments": [], "cadence_spm": 172},
         "objects": [], "sensor": {"kind": "hcsr04"}}


class BleBoard:
    def __init__(self, tmp: Path, *, config: dict | None = None, sessions=(300, 120),
                 hci: bool = False, world: dict | None = None, parts: dict | None = None):
        from session_factory import make_session

        spec = get_board("esp32-devkitc")
        self.profile = {**spec.profile, **(parts or {})}
        self.fs, flash = board_folder(spec, tmp, config={"ble.enabled": True, **(config or {})})
        (self.fs / "board.json").write_text(json.dumps(self.profile))
        for i, seconds in enumerate(sessions):
            make_session(self.fs, seconds=seconds, start_unix=1_764_000_000 + 3600 * i)
        (self.fs / wire_ble.BLE_SECRET_PATH.lstrip("/")).write_bytes(SECRET)
        self.out = bytearray()
        world_ = world or WORLD

        def factory(fs_dir, write, scenario=None, flash=None):
            def both(data):
                self.out.extend(data)
                write(data)

            return AppDevice(fs_dir, both, scenario=world_, board=self.profile, flash=flash,
                             bluetooth=True)

        self.vboard = VirtualBoard(mode="app", listen="socket", fs_dir=self.fs,
                                   flash_path=flash, app_factory=factory)
        self._serving = threading.Thread(target=self.vboard.serve_forever, daemon=True)
        self._serving.start()
        self.port = self.vboard.port
        self.dev = self.vboard.app
        self.hw = self.dev.hw
        self.radio = self.hw.radio
        self.hci = self.radio.serve_hci() if hci else None
        assert wait_until(lambda: self.radio.advertising, 60), bytes(self.out[-1500:])

    @property
    def name(self) -> str:
        """The name the board advertises: retrorun-XXXX from its Bluetooth MAC."""
        return f"{wire_ble.BLE_NAME_PREFIX}{self.radio.mac[4]:02X}{self.radio.mac[5]:02X}"

    @property
    def uid(self) -> bytes:
        return self.hw.mac  # machine.unique_id(): the base MAC

    def press(self, duration_us: int = 150_000) -> int:
        """A short press of the board's button, starting a little after now (board time)."""
        button = self.profile["button"]
        with self.hw.lock:
            at = self.hw.now_us + 50_000
            self.hw.press_button(button["pin"], at, duration_us,
                                 active_low=button.get("active_low", True))
        return at

    def session_files(self) -> dict[int, bytes]:
        return {int(p.name[:6]): p.read_bytes()
                for p in sorted((self.fs / "sessions").glob("*.rrl"))}

    def config(self) -> dict:
        return json.loads((self.fs / "config.json").read_text())

    def close(self) -> None:
        self.vboard.stop()
        self._serving.join(timeout=10)
        radio = self.radio
        self.vboard.close()
        radio.close()
