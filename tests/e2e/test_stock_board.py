"""A maker's board: a stock micropython.org download (no ROMFS) on the virtual board.

`retrorun flash` then `retrorun deploy`, over RFC 2217 so that esptool's resets drive the board
between its ROM loader and MicroPython: the user's session files stay, the firmware goes in as
.mpy files, and after a long press only the button wakes the board. The counter-case shows the
virtual board can lose files: flashing an image whose partition table differs erases the start
of the filesystem, and MicroPython formats it at the next boot.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from romfs_board import ROMFS_NAMES, STOCK_NAMES
from waiting import wait_until as _wait

from retrorun.cli.main import main
from retrorun.devtools.vboard.board import VirtualBoard
from retrorun.devtools.vboard.flash import mark_formatted, write_partition_table
from retrorun.provision import chips, flash, partition_table
from retrorun.provision.boards import get_board

pytestmark = pytest.mark.slow

# the user's recording: a whole session (header ... footer) as the app writes them
SESSION = (Path(__file__).parents[1] / "data" / "session-golden.bin").read_bytes()


def _whole_image(names: bytes) -> bytes:
    """An ESP32 whole firmware for 0x1000: bootloader, the stock 4 MB table at 0x8000, an app."""
    image = bytearray(flash.make_image(chips.CHIPS["esp32"], bytes(3000)))
    image += b"\xff" * (0x7000 - len(image))
    image += partition_table.encode(partition_table.MICROPYTHON_ESP32_4MB) + b"\xff" * 0x400
    image += flash.make_image(chips.CHIPS["esp32"], bytes(2000), app=True) + names
    return bytes(image)



@pytest.fixture
def board(tmp_path):
    """A board that has run stock MicroPython: its table, a made filesystem, sessions on it."""
    flash_path = tmp_path / "flash.bin"
    write_partition_table(flash_path, "stock")
    fs = tmp_path / "fs"
    (fs / "sessions").mkdir(parents=True)
    (fs / "sessions" / "000007.rrl").write_bytes(SESSION)
    vb = VirtualBoard(mode="rom", listen="rfc2217", fs_dir=fs, flash_path=flash_path)
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    yield vb, fs
    vb.stop()
    thread.join(timeout=10)
    vb.close()


def test_flash_then_deploy_keep_the_sessions_and_use_mpy_files(board, tmp_path, capsys):
    vb, fs = board
    image = tmp_path / "ESP32_GENERIC-20251209-v1.27.0.bin"
    image.write_bytes(_whole_image(STOCK_NAMES))
    assert main(["flash", "--port", vb.port, "--board", "esp32-devkitc", "--image",
                 str(image), "--json"]) == 0
    flashed = json.loads(capsys.readouterr().out)
    assert flashed["romfs"] is None and flashed["romfs_build"] is False
    assert partition_table.read_table(vb.flash.read(0, 0x9000)) == \
        partition_table.MICROPYTHON_ESP32_4MB

    assert main(["deploy", "--port", vb.port, "--board", "esp32-devkitc", "--json"]) == 0
    deployed = json.loads(capsys.readouterr().out)
    assert vb._app is not None and vb._app.build == "stock"
    assert deployed["layout"] == "files"
    assert "no ROMFS support" in deployed["note"]
    mpy = [p for p in deployed["uploaded"] if p.startswith("/lib/retrofw/")]
    assert mpy and all(p.endswith(".mpy") for p in mpy)
    assert (fs / "lib" / "retrofw" / "app.mpy").is_file()
    assert (fs / "sessions" / "000007.rrl").read_bytes() == SESSION  # kept, byte for byte

    # the deployed app goes to sleep on a long press; only the button wakes it
    hw = vb._app.hw
    pin = get_board("esp32-devkitc").profile["button"]["pin"]
    with hw.lock:
        hw.press_button(pin, hw.now_us + 2_000_000, 3_000_000)
        wake_at = hw.now_us + 40_000_000
        hw.press_button(pin, wake_at, 150_000)
    assert _wait(lambda: any(w == "deep sleep" for _, w in hw.log)), hw.log[-20:]
    assert _wait(lambda: any(w.startswith("deep sleep ends") for _, w in hw.log))
    ends = [(t, w) for t, w in hw.log if w.startswith("deep sleep ends")]
    assert ends[0] == (wake_at, "deep sleep ends (wake reason 2)")  # EXT0: the button, then


def test_an_image_with_another_table_costs_the_filesystem(board, tmp_path, capsys):
    """The counter-case: a ROMFS build gets the romfs table, the table changes, the start of
    the filesystem is erased and MicroPython formats it at boot (the old files moved aside)."""
    vb, fs = board
    image = tmp_path / "custom-romfs.bin"
    image.write_bytes(_whole_image(ROMFS_NAMES))
    assert main(["flash", "--port", vb.port, "--board", "esp32-devkitc", "--image",
                 str(image), "--json"]) == 1  # the files would go: not without asking
    assert "stdin is not a terminal to ask" in capsys.readouterr().err
    assert main(["flash", "--port", vb.port, "--board", "esp32-devkitc", "--image",
                 str(image), "--json", "--yes"]) == 0
    flashed = json.loads(capsys.readouterr().out)
    assert flashed["romfs"] == {"offset": 0x3C0000, "size": 0x40000}
    assert _wait(lambda: vb._app is not None and (fs / "boot.py").exists())
    assert _wait(lambda: not (fs / "sessions").exists())
    assert vb._app.build == "romfs"
    aside = tmp_path / "fs.before-format-1"
    assert (aside / "sessions" / "000007.rrl").read_bytes() == SESSION


def test_the_filesystem_check_reads_the_flash_not_a_flag(tmp_path):
    """mark_formatted writes littlefs's superblock name where the port's inisetup looks."""
    from retrorun.devtools.vboard.flash import Flash, filesystem_blank

    path = tmp_path / "flash.bin"
    write_partition_table(path, "stock")
    f = Flash(path)
    try:
        assert not filesystem_blank(f)
        assert f.read(0x200000 + 8, 8) == b"littlefs"
        f.erase(0x200000, 0x1000)
        assert filesystem_blank(f)
        mark_formatted(f)
        assert not filesystem_blank(f)
    finally:
        f.close()
