"""A long press puts the app to deep sleep; only the button wakes the board again.

On the esp32 port a board that calls deepsleep() without a configured wake source sleeps until
reset (the virtual board does the same); the app must make the button the wake source.
"""

from __future__ import annotations

import pytest
from waiting import wait_until as _wait

from retrorun.devtools.vboard.deployed import board_folder
from retrorun.devtools.vboard.flash import Flash
from retrorun.devtools.vboard.repl import AppDevice
from retrorun.provision.boards import get_board

pytestmark = pytest.mark.slow



def test_long_press_sleeps_and_only_the_button_wakes(tmp_path):
    board = get_board("esp32-devkitc")
    fs, flash_path = board_folder(board, tmp_path)
    flash = Flash(flash_path)
    out = bytearray()
    dev = AppDevice(fs, out.extend, board=board.profile, flash=flash)
    pin = board.profile["button"]["pin"]
    try:
        hw = dev.hw
        with hw.lock:
            hw.press_button(pin, hw.now_us + 1_000_000, 3_000_000)  # a 3 s press: sleep
            wake_at = hw.now_us + 30_000_000
            hw.press_button(pin, wake_at, 150_000)  # a short press, long after
        assert _wait(lambda: any(w == "deep sleep" for _, w in hw.log)), hw.log
        slept_at = next(t for t, w in hw.log if w == "deep sleep")
        assert slept_at >= 4_000_000  # after the release, not while the button was held
        assert _wait(lambda: any(w.startswith("deep sleep ends") for _, w in hw.log))
        ended = next((t, w) for t, w in hw.log if w.startswith("deep sleep ends"))
        assert ended == (wake_at, "deep sleep ends (wake reason 2)")  # EXT0_WAKE, at the press
        assert _wait(lambda: b"rst:0x5 (DEEPSLEEP_RESET)" in out)
        # the going-to-sleep cue: the ERM ran just before the board slept
        duty = [(t, d) for t, _pin, _f, d in hw.haptic_timeline(board.profile["haptic"]["pin"])
                if t <= slept_at]
        on = [t for t, d in duty if d > 0]
        assert on and slept_at - on[-1] < 4_000_000
    finally:
        dev.close()
        flash.close()
