"""The REPL UART hears its pins until the app claims them (the esp32 port, ports/esp32/uart.c).

UART0 stays on its IO_MUX pins (ESP32-S3: TX GPIO43, RX GPIO44) and every byte it receives goes
to the REPL, 0x03 raising KeyboardInterrupt, until the firmware creates a machine.UART on them.
A TF-Luna wired there (the XIAO ESP32S3 profile did so) interrupts whatever runs at the REPL:
its frames carry 0x03 whenever a byte of distance, signal strength or checksum is 3.
"""

from __future__ import annotations

import json

import pytest
from app_helpers import Output

from retrorun.devtools.models import tfluna
from retrorun.devtools.vboard import wiring
from retrorun.devtools.vboard.repl import AppDevice
from retrorun.errors import RetrorunError
from retrorun.paths import boards_dir
from retrorun.provision.boards import load_profile

# At 2.7 m the model's signal strength is ~880 (0x0370): every frame has a 0x03 byte.
DISTANCE_MM = 2700


@pytest.fixture
def repl_pins_profile(tmp_path):
    """The XIAO ESP32S3 profile with its TF-Luna on GPIO43/44, as it was, in a tmp file."""
    profile = json.loads((boards_dir() / "xiao-esp32s3.json").read_text())
    profile["distance"]["uart"].update(tx=43, rx=44)
    path = tmp_path / "xiao-on-repl-pins.json"
    path.write_text(json.dumps(profile))
    return path


def test_the_profile_is_refused_by_the_validator(repl_pins_profile):
    with pytest.raises(RetrorunError, match="GPIO43 is TX of the REPL UART"):
        load_profile(repl_pins_profile)


def test_frames_reach_the_repl_until_a_uart_claims_the_pins(repl_pins_profile):
    profile = json.loads(repl_pins_profile.read_text())
    hw = wiring.from_profile(profile, distance_mm=lambda t_us: DISTANCE_MM)
    hw.advance(50_000)  # 100 frames/s
    heard = bytes(hw.repl_heard)
    assert len(heard) == 5 * tfluna.FRAME_SIZE and heard[:2] == b"\x59\x59"
    assert heard.count(3) >= 5  # the REPL would see Ctrl-C in every frame
    assert hw.handle("Ua1") == "0"  # nothing waits in UART1: the REPL took it
    hw.handle("Ui1 115200 43 44 512")  # machine.UART(1, 115200, tx=43, rx=44, rxbuf=512)
    hw.advance(50_000)
    assert bytes(hw.repl_heard) == heard
    assert int(hw.handle("Ua1")) == 5 * tfluna.FRAME_SIZE
    hw.on_reboot(False, 5)  # soft reset: the GPIO matrix keeps the pins on UART1
    hw.advance(10_000)
    assert bytes(hw.repl_heard) == heard
    hw.on_reboot(True, 2)  # hard reset: UART0 has its pins back
    hw.advance(10_000)
    assert len(hw.repl_heard) == len(heard) + tfluna.FRAME_SIZE


def test_the_same_wiring_on_other_pins_never_reaches_the_repl(repl_pins_profile):
    profile = json.loads(repl_pins_profile.read_text())
    profile["distance"]["uart"].update(tx=7, rx=8)  # the profile as shipped now
    hw = wiring.from_profile(profile, distance_mm=lambda t_us: DISTANCE_MM)
    hw.advance(50_000)
    assert hw.repl_heard == b"" and int(hw.handle("Ua1")) == 5 * tfluna.FRAME_SIZE
    profile = json.loads(repl_pins_profile.read_text())
    profile["chip"] = "esp32"  # GPIO44 is no REPL pin on an ESP32 (its U0RXD is GPIO3)
    hw = wiring.from_profile(profile, distance_mm=lambda t_us: DISTANCE_MM)
    hw.advance(50_000)
    assert hw.repl_heard == b""


def _run(device, code: str) -> bytes:
    device.out.take()
    device.on_data(b"\x01" + code.encode() + b"\x04")  # Ctrl-A first: a fresh raw REPL
    assert device.wait_idle(20)
    return device.out.take()


def test_a_tfluna_on_the_repl_pins_interrupts_the_repl_until_the_app_claims_them(
    repl_pins_profile, tmp_path
):
    profile = json.loads(repl_pins_profile.read_text())
    hw = wiring.from_profile(profile, distance_mm=lambda t_us: DISTANCE_MM)
    fs = tmp_path / "fs"
    fs.mkdir()
    out = Output()
    device = AppDevice(fs, out, board=profile, hardware=hw)
    try:
        assert device.wait_idle(20)
        device.out = out
        before = _run(
            device, "import time\nn = 0\nwhile True:\n    time.sleep_ms(10)\n    n += 1\n"
        )
        assert b"KeyboardInterrupt" in before, before
        after = _run(
            device,
            "from machine import UART\nu = UART(1, 115200, tx=43, rx=44)\n"
            "n = 0\nwhile n < 30:\n    time.sleep_ms(10)\n    n += 1\n"
            "print('waiting', u.any())\n",
        )
        assert b"KeyboardInterrupt" not in after, after
        waiting = int(after.split(b"waiting ")[1].split(b"\r\n")[0])
        assert waiting >= 20 * tfluna.FRAME_SIZE  # the frames now go to UART1
    finally:
        device.close()
