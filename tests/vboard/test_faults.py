"""The virtual board's fault injections (retrorun.devtools.vboard.faults) do what the hardware
does, seen from code on the board: a held SDA times out, a NACK is ENODEV, a full flash refuses
a write and writes nothing, a power cut tears a write and boots with POWERON_RESET, a hung call
returns only through the watchdog."""

from __future__ import annotations

import errno

import pytest
from test_app_hw import make, run

from retrorun.devtools.vboard import faults, wiring
from retrorun.devtools.vboard.faults import FlashSpace
from retrorun.provision.boards import get_board

I2C = "from machine import I2C, Pin\ni2c = I2C(0, scl=Pin(22), sda=Pin(21))\n"
TRY_READ = ("import time\nt = time.ticks_us()\ntry:\n    i2c.readfrom_mem(0x68, 0x75, 1)\n"
            "    print('ok')\nexcept OSError as e:\n    print('err', e.errno)\n"
            "print(time.ticks_diff(time.ticks_us(), t))\n")


@pytest.fixture
def board(tmp_path):
    hw = wiring.from_profile(get_board("esp32-devkitc").profile)  # the MPU-6050 at 0x68
    device = make(tmp_path, hardware=hw)
    yield device
    device.close()


def test_sda_held_low_times_out_every_transfer_and_scan_finds_nothing(board):
    assert run(board, I2C + TRY_READ).split("\r\n")[0] == "ok"
    faults.hold_sda_low(board.hw, 0)
    err, took = run(board, I2C + "print(i2c.scan())\n" + TRY_READ).split("\r\n")[1:3]
    assert err == f"err {faults.ETIMEDOUT_ESP32}"  # the ESP32's newlib ETIMEDOUT
    assert faults.I2C_STUCK_US <= int(took) < faults.I2C_STUCK_US + 1000
    assert run(board, I2C + "print(i2c.scan())\n").strip() == "[]"
    board.hw.i2c_held_low.clear()
    assert run(board, I2C + TRY_READ).split("\r\n")[0] == "ok"


def test_a_nack_window_is_enodev_and_the_chip_keeps_its_registers(board):
    model = board.hw.i2c[0].devices[0x68]
    faults.nack(board.hw, 0x68, for_us=50_000)
    assert run(board, I2C + TRY_READ).split("\r\n")[0] == f"err {errno.ENODEV}"
    regs = bytes(model.regs)
    run(board, "import time\ntime.sleep_ms(60)\n")
    assert run(board, I2C + TRY_READ).split("\r\n")[0] == "ok" and bytes(model.regs) == regs


def test_a_hung_call_returns_only_through_the_watchdog(board):
    faults.hang(board.hw, faults.i2c_call_to(0x68))
    board.out.take()
    board.on_data((I2C + "import machine\nw = machine.WDT(timeout=2000)\n"
                   "i2c.readfrom_mem(0x68, 0x75, 1)\nprint('not reached')\n\x04").encode())
    text = board.out.wait_for(b">>> ", timeout=20)
    assert b"not reached" not in text and b"rst:0x7 (TG0WDT_SYS_RESET)" in text
    expired = next(t for t, w in board.hw.log if w.startswith("watchdog expired"))
    assert expired - next(t for t, w in board.hw.log if w.startswith("hung in")) == 2_000_000
    assert board.hw.stall is None, "once"


@pytest.fixture
def spaced(tmp_path):
    hw = wiring.from_profile(get_board("esp32-devkitc").profile)
    hw.flash_space = FlashSpace(tmp_path / "fs", hw)
    device = make(tmp_path, hardware=hw)
    yield device
    device.close()


def test_a_full_flash_refuses_a_write_whole_and_statvfs_says_so(spaced):
    space = spaced.hw.flash_space
    assert run(spaced, "import os\nprint(os.statvfs('/')[3])\n").strip() == "448"
    space.fill(100)
    out = run(spaced, "import os\nprint(os.statvfs('/')[2:4])\nf = open('/a', 'wb')\n"
                      "f.write(bytes(60))\ntry:\n    f.write(bytes(60))\nexcept OSError as e:\n"
                      "    print('err', e.errno)\nf.close()\nf = open('/a', 'ab')\n"
                      "try:\n    f.write(bytes(41))\nexcept OSError as e:\n"
                      "    print('append', e.errno)\nf.close()\nprint(os.stat('/a')[6])\n"
                      "os.remove('/a')\nf = open('/b', 'w')\nprint(f.write('x' * 100))\n"
                      "f.close()\n").split("\r\n")
    assert out[0] == "(1, 0)"  # 100 bytes free: not one 4 KB block
    assert out[1:4] == [f"err {errno.ENOSPC}", f"append {errno.ENOSPC}", "60"]
    assert out[4] == "100", "deleting a file gives its space back"
    assert [p for _t, p, _n in space.refused] == ["/a", "/a"]


def test_a_power_cut_in_a_write_tears_it_and_boots_from_power_on(spaced, tmp_path):
    space = spaced.hw.flash_space
    spaced.hw.rtc_memory = b"rr\x01"
    space.cut_power_in_write("/sessions/*.rrl", 7)
    spaced.out.take()
    spaced.on_data(b"import os\ntry:\n    os.mkdir('/sessions')\nexcept OSError:\n    pass\n"
                   b"f = open('/sessions/000001.rrl', 'wb')\nf.write(b'x' * 20)\n"
                   b"print('not reached')\n\x04")
    text = spaced.out.wait_for(b"POWERON_RESET", timeout=20)
    assert b"not reached" not in text
    assert (tmp_path / "fs" / "sessions" / "000001.rrl").read_bytes() == b"x" * 7
    assert space.cut_at[1:] == ("/sessions/000001.rrl", 20, 7) and space.before_cut == b""
    assert spaced.hw.rtc_memory == b"" and spaced.hw.reset_cause == 1
