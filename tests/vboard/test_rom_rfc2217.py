"""esptool's default reset over RFC 2217: DTR/RTS through the DevKitC circuit into the loader,
flashing, and esptool's hard reset back to the app on the same port.

Uses the real app device (`retrorun.devtools.vboard.repl.AppDevice`, MicroPython) when it imports, and a
tiny stand-in otherwise, so the reset-to-app switch is checked either way.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

import pytest
import serial

from retrorun.devtools.vboard.board import VirtualBoard


class StandInApp:
    """Answers every byte with `app:<bytes>` so the test can tell the app from the loader."""

    instances = 0

    def __init__(self, fs_dir, write, scenario=None):
        StandInApp.instances += 1
        self.write = write
        self.resets = 0

    def on_data(self, data):
        self.write(b"app:" + data)

    def reset(self, hard):
        self.resets += 1

    def close(self):
        pass


def real_app_available() -> bool:
    try:
        from retrorun.devtools.vboard.repl import AppDevice  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture
def board(tmp_path):
    kind = "real" if real_app_available() else "stand-in"
    factory = StandInApp if kind == "stand-in" else None
    StandInApp.instances = 0
    vb = VirtualBoard(mode="app", listen="rfc2217", flash_path=tmp_path / "flash.bin",
                      fs_dir=tmp_path / "fs", app_factory=factory)
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    yield vb, kind, tmp_path
    vb.stop()
    thread.join(10)
    vb.close()


def read_until(port, marker: bytes, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        data += port.read(max(1, port.in_waiting))
    return data


@pytest.mark.slow
def test_default_reset_flashes_and_hard_reset_returns_to_the_app(board):
    vb, kind, tmp_path = board
    data = bytes([0]) + random.Random(42).randbytes(64 * 1024 - 1)
    (tmp_path / "app.bin").write_bytes(data)
    result = subprocess.run(
        [sys.executable, "-m", "esptool", "--port", vb.port, "--before", "default-reset",
         "--after", "hard-reset", "write-flash", "0x10000", str(tmp_path / "app.bin")],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Hash of data verified." in result.stdout
    assert "Hard resetting via RTS pin" in result.stdout
    assert "not reset" not in result.stdout.lower()
    assert vb.autoreset.boots[0] == "rom"  # the default reset entered download mode
    with open(tmp_path / "flash.bin", "rb") as flash:
        flash.seek(0x10000)
        assert flash.read(len(data)) == data

    if kind == "stand-in":
        port = serial.serial_for_url(vb.port, timeout=0.2)
        try:
            port.write(b"hi")
            assert read_until(port, b"app:hi", 5).endswith(b"app:hi")
        finally:
            port.close()
        assert StandInApp.instances == 2  # the app running before was closed by the ROM boot
    else:  # the real MicroPython app, reached by mpremote on the same port
        result = subprocess.run(
            [sys.executable, "-m", "mpremote", "connect", vb.port, "exec", "print(6*7)"],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().splitlines()[-1] == "42"
    assert vb.autoreset.boots == ["rom", "app"]
    assert vb.mode == "app"
