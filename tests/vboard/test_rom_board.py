"""The board process object: mode switches between the ROM loader and the app (fast, in-process).

A stand-in app device proves the switches without MicroPython; the reset sequences are the ones
esptool uses (esp_pylib's classic bootloader reset and hard reset) over a real RFC 2217 client.
"""

from __future__ import annotations

import struct
import threading
import time
from typing import ClassVar

import pytest
import serial
from esp_pylib.serial_reset import classic_bootloader_reset, hard_reset

from retrorun.devtools.vboard.board import VirtualBoard
from retrorun.devtools.vboard.loader_protocol import (
    FLASH_BEGIN,
    FLASH_END,
    SYNC,
    SYNC_PAYLOAD,
    SlipDecoder,
    slip_encode,
)


class StandInApp:
    log: ClassVar[list[str]] = []

    def __init__(self, fs_dir, write, scenario=None, flash=None):
        self.write = write
        StandInApp.log.append(f"new {scenario}")
        write(b"APP UP\r\n")

    def on_data(self, data):
        self.write(b"app:" + data)

    def reset(self, hard):
        StandInApp.log.append(f"reset hard={hard}")
        self.write(b"APP RESET\r\n")

    def close(self):
        StandInApp.log.append("close")


@pytest.fixture
def make_board(tmp_path):
    boards = []

    def make(listen, mode="rom"):
        StandInApp.log = []
        vb = VirtualBoard(mode=mode, listen=listen, flash_path=tmp_path / "flash.bin",
                          fs_dir=tmp_path / "fs", app_factory=StandInApp, scenario="s1")
        thread = threading.Thread(target=vb.serve_forever, daemon=True)
        thread.start()
        boards.append((vb, thread))
        return vb

    yield make
    for vb, thread in boards:
        vb.stop()
        thread.join(10)
        vb.close()


def read_for(port, seconds: float) -> bytes:
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data += port.read(max(1, port.in_waiting))
    return data


def command(op: int, data: bytes = b"") -> bytes:
    return slip_encode(struct.pack("<BBHI", 0, op, len(data), 0) + data)


def test_classic_reset_enters_loader_and_hard_reset_starts_app(make_board):
    vb = make_board("rfc2217")
    port = serial.serial_for_url(vb.port, timeout=0.1)
    try:
        classic_bootloader_reset(port)  # esptool's default reset, line by line
        log = read_for(port, 0.3)
        assert b"boot:0x3 (DOWNLOAD_BOOT" in log and b"waiting for download" in log
        assert vb.mode == "rom"
        port.write(command(SYNC, SYNC_PAYLOAD))
        frames = SlipDecoder().feed(read_for(port, 0.5))
        assert len(frames) == 8 and frames[0][:2] == b"\x01\x08"
        hard_reset(port)  # esptool's --after hard-reset
        port.write(b"x")  # data after EN rose: the chip is out of reset by now
        out = read_for(port, 0.5)
        assert b"APP UP" in out and b"app:x" in out
        assert vb.mode == "app" and vb.autoreset.boots == ["rom", "app"]
        hard_reset(port)  # an app-to-app hard reset reboots the same device
        port.write(b"y")
        out = read_for(port, 0.5)
        assert b"APP RESET" in out and b"app:y" in out
        classic_bootloader_reset(port)  # back into the loader: the app is closed
        read_for(port, 0.2)
        assert vb.mode == "rom"
    finally:
        port.close()
    deadline = time.monotonic() + 5
    while "close" not in StandInApp.log and time.monotonic() < deadline:
        time.sleep(0.01)  # the board closes the app device in the background
    assert StandInApp.log == ["new s1", "reset hard=True", "close"]


def test_data_while_en_is_low_is_lost(make_board):
    vb = make_board("rfc2217", mode="app")
    port = serial.serial_for_url(vb.port, timeout=0.1)
    try:
        port.dtr = False
        port.rts = True  # EN low
        assert vb.mode == "reset"
        port.write(b"lost")
        assert b"app:" not in read_for(port, 0.3)
        port.rts = False  # EN high, IO0 high: app after the release window
        out = read_for(port, vb.autoreset.window_s + 0.3)
        assert vb.mode == "app" and b"APP RESET" in out
        port.write(b"kept")
        assert b"app:kept" in read_for(port, 0.3)
    finally:
        port.close()


def test_rom_run_user_code_starts_the_app_over_a_plain_socket(make_board):
    vb = make_board("socket")
    port = serial.serial_for_url(vb.port, timeout=0.1)
    try:
        port.write(command(FLASH_BEGIN, struct.pack("<IIII", 0, 0, 0x400, 0)))
        port.write(command(FLASH_END, struct.pack("<I", 1)))  # 1 = run user code
        out = read_for(port, 0.5)
        assert b"APP UP" in out and vb.mode == "app"
        port.write(b"hello")
        assert b"app:hello" in read_for(port, 0.3)
    finally:
        port.close()


def test_port_file_holds_the_port_string(make_board, tmp_path):
    vb = make_board("pty")
    vb.write_port_file(tmp_path / "port")
    assert (tmp_path / "port").read_text() == vb.port + "\n"
    assert vb.port.startswith("/dev/")
