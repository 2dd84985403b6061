"""App mode of the virtual board: the REPL protocols, driven in-process and by real mpremote."""

from __future__ import annotations

import struct
import time

import pytest
from app_helpers import LoopbackBoard, Output, mpremote

from retrorun.devtools.vboard.console import RAW_PASTE_WINDOW
from retrorun.devtools.vboard.repl import AppDevice

RAW = b"raw REPL; CTRL-B to exit\r\n"


def _board(tmp_path, **options):
    fs = tmp_path / "fs"
    fs.mkdir()
    out = Output()
    device = AppDevice(fs, out, **options)
    assert device.wait_idle(20)
    device.fs = fs
    device.out = out
    return device


@pytest.fixture
def dev(tmp_path):
    device = _board(tmp_path)
    yield device
    device.close()


@pytest.fixture
def wasi_dev(tmp_path):
    device = _board(tmp_path, runtime="wasi")
    yield device
    device.close()


def send(device, data: bytes, timeout: float = 20) -> bytes:
    device.out.take()
    device.on_data(data)
    assert device.wait_idle(timeout)
    return device.out.take()


def raw_exec(device, code: bytes) -> bytes:
    return send(device, code + b"\x04")


def test_power_on_prints_banner_and_prompt(dev):
    text = bytes(dev.out.data)
    assert b"rst:0x1 (POWERON_RESET)" in text
    assert b"MicroPython v1.27" in text and text.endswith(b"for more information.\r\n>>> ")


def test_friendly_repl_echoes_evaluates_and_continues_blocks(dev):
    assert send(dev, b"6*7\r") == b"6*7\r\n42\r\n>>> "
    out = send(dev, b"for i in range(2):\rprint(i)\r\r")  # auto-indent, as MicroPython
    assert out == b"for i in range(2):\r\n...     print(i)\r\n...     \r\n0\r\n1\r\n>>> "
    out = send(dev, b"1/0\r")
    assert b"ZeroDivisionError: divide by zero\r\n>>> " in out
    assert b"_vb_boot" not in out
    assert send(dev, b"xy\x08\x08\x03") == b"xy\x08 \x08\x08 \x08\r\n>>> "


def test_raw_repl_exact_bytes(dev):
    assert send(dev, b"\r\x03\r\x01").endswith(b"\r\n" + RAW + b">")
    assert raw_exec(dev, b"print('hi')\nx = 5") == b"OKhi\r\n\x04\x04>"
    out = raw_exec(dev, b"print(x)\nraise ValueError('no')")
    assert out.startswith(b"OK5\r\n\x04Traceback (most recent call last):\r\n")
    assert out.endswith(b"ValueError: no\r\n\x04>")
    assert send(dev, b"\x02").endswith(b"for more information.\r\n>>> ")


def test_raw_paste_grants_windows_and_runs(dev):
    send(dev, b"\x01")
    header = send(dev, b"\x05A\x01")
    assert header[:2] == b"R\x01"
    assert struct.unpack("<H", header[2:4])[0] == RAW_PASTE_WINDOW
    code = b"s = 0\n" + b"s += 1\n" * 100 + b"print(s)\n"  # 707 bytes: two full windows
    dev.out.take()
    dev.on_data(code)
    grants = dev.out.take()
    assert grants == b"\x01" * (len(code) // RAW_PASTE_WINDOW)
    assert send(dev, b"\x04") == b"\x04100\r\n\x04\x04>"


def test_soft_reboot_clears_state_runs_boot_and_main(dev):
    (dev.fs / "boot.py").write_text("print('boot ran')\n")
    (dev.fs / "main.py").write_text("print('main ran')\nm = 1\n")
    send(dev, b"y = 3\r")
    out = send(dev, b"\x04")  # friendly Ctrl-D: soft reboot runs boot.py then main.py
    assert out.startswith(b"\r\nMPY: soft reboot\r\nboot ran\r\nmain ran\r\nMicroPython")
    assert b"NameError" in send(dev, b"y\r")
    assert send(dev, b"m\r").endswith(b"1\r\n>>> ")  # main.py globals stay in the REPL
    send(dev, b"\x01")
    out = send(dev, b"\x04")  # raw Ctrl-D: boot.py only, back in the raw REPL
    assert out == b"OK\r\nMPY: soft reboot\r\nboot ran\r\n" + RAW + b">"


def test_ctrl_c_interrupts_code_at_its_next_host_call(dev):
    send(dev, b"\x01")
    dev.out.take()
    dev.on_data(b"import time\nn = 0\nwhile True:\n n += 1\n time.sleep_ms(10)\n\x04")
    time.sleep(0.3)
    assert dev.busy
    out = send(dev, b"\x03")
    assert b"KeyboardInterrupt" in out and out.endswith(b"\x04>")
    assert int(raw_exec(dev, b"print(n)")[2:].split(b"\r")[0]) > 1  # state kept


def test_ctrl_c_interrupts_a_busy_loop_and_keeps_its_state(dev):
    """Native runtime: a loop without host calls gets a SIGINT, which the Unix port turns
    into KeyboardInterrupt, as a board's UART interrupt does; the globals survive."""
    send(dev, b"\x01")
    dev.out.take()
    dev.on_data(b"keep = 1\nwhile True:\n pass\n\x04")
    time.sleep(0.3)
    out = send(dev, b"\x03")
    assert b"KeyboardInterrupt" in out and out.endswith(b"\x04>")
    assert raw_exec(dev, b"print(keep)") == b"OK1\r\n\x04\x04>"
    assert dev.reboots == 1  # no restart
    assert raw_exec(dev, b"print(2+2)") == b"OK4\r\n\x04\x04>"


def test_ctrl_c_stops_a_busy_loop_by_restarting_the_wasi_vm(wasi_dev):
    dev = wasi_dev
    send(dev, b"\x01")
    dev.out.take()
    dev.on_data(b"keep = 1\nwhile True:\n pass\n\x04")
    time.sleep(0.3)
    out = send(dev, b"\x03")
    assert b"KeyboardInterrupt" in out and out.endswith(b"\x04>")
    assert b"NameError" in raw_exec(dev, b"keep")  # the VM was restarted
    assert raw_exec(dev, b"print(2+2)") == b"OK4\r\n\x04\x04>"


def test_asyncio_ten_virtual_minutes_take_seconds(dev):
    send(dev, b"\x01")
    code = b"""import asyncio, time
t0 = time.ticks_ms()
log = []
async def tick(name, period_s, n):
    for i in range(n):
        await asyncio.sleep(period_s)
        log.append(name)
async def main():
    await asyncio.gather(tick('a', 60, 10), tick('b', 150, 4))
asyncio.run(main())
print(time.ticks_diff(time.ticks_ms(), t0), len(log), log[:4])
"""
    start = time.monotonic()
    out = raw_exec(dev, code)
    elapsed = time.monotonic() - start
    assert out.endswith(b"\x04\x04>"), out
    ms, count = (int(v) for v in out[2:].split(b" ")[:2])
    assert 600_000 <= ms < 601_000
    assert count == 14
    assert b"['a', 'a', 'b', 'a']" in out
    assert elapsed < 5


def test_main_py_asyncio_app_runs_until_ctrl_c(dev):
    (dev.fs / "main.py").write_text(
        "import asyncio\ncount = 0\n"
        "async def beat():\n    global count\n    while True:\n"
        "        count += 1\n        await asyncio.sleep_ms(100)\n"
        "asyncio.run(beat())\n")
    dev.out.take()
    dev.on_data(b"\x04")
    time.sleep(0.5)
    assert dev.busy  # main.py runs forever
    out = send(dev, b"\x03")
    assert b"KeyboardInterrupt" in out and out.endswith(b">>> ")
    assert int(send(dev, b"count\r").split(b"\r\n")[1]) > 10


def test_machine_soft_reset_and_reset_cause(dev):
    out = send(dev, b"import machine; machine.reset_cause()\r")
    assert out.endswith(b"1\r\n>>> ")  # PWRON_RESET
    out = send(dev, b"machine.reset()\r")
    assert b"rst:0xc (SW_CPU_RESET)" in out and out.endswith(b">>> ")
    assert send(dev, b"import machine; machine.reset_cause()\r").endswith(b"5\r\n>>> ")


@pytest.mark.slow
def test_mpremote_fs_exec_soft_reset_resume(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    board = LoopbackBoard(fs)
    try:
        assert board.device.wait_idle(20)
        blob = bytes(range(256)) * 4 + b"\x00\xff\r\n\x04\x03"
        local = tmp_path / "blob.bin"
        local.write_bytes(blob)
        (tmp_path / "hello.py").write_text("print('hello from a file')\n")

        r = mpremote(board.port, "exec", "print(1+1)")
        assert r.returncode == 0 and r.stdout == "2\n", r.stderr
        r = mpremote(board.port, "fs", "cp", str(local), ":blob.bin")
        assert r.returncode == 0, r.stderr
        assert (fs / "blob.bin").read_bytes() == blob  # landed in the --fs folder
        r = mpremote(board.port, "fs", "mkdir", ":lib", "+", "fs", "cp",
                     str(tmp_path / "hello.py"), ":lib/hello.py")
        assert r.returncode == 0, r.stderr
        assert (fs / "lib" / "hello.py").exists()
        r = mpremote(board.port, "fs", "ls")
        assert r.returncode == 0 and f"{len(blob)} blob.bin" in r.stdout and "lib/" in r.stdout
        back = tmp_path / "back.bin"
        r = mpremote(board.port, "fs", "cp", ":blob.bin", str(back))
        assert r.returncode == 0 and back.read_bytes() == blob, r.stderr
        r = mpremote(board.port, "exec", "import hello")  # /lib is on sys.path
        assert r.stdout == "hello from a file\n", r.stderr
        r = mpremote(board.port, "exec", "x = 42")
        r = mpremote(board.port, "resume", "exec", "print(x)")
        assert r.returncode == 0 and r.stdout == "42\n", r.stderr
        r = mpremote(board.port, "soft-reset")
        assert r.returncode == 0
        r = mpremote(board.port, "resume", "exec", "print(x)")
        assert r.returncode != 0 and "NameError" in r.stdout + r.stderr
    finally:
        board.close()


@pytest.mark.parametrize("loop", ["    time.sleep_ms(50)\n", "    pass\n"],
                         ids=["sleeping", "busy"])
def test_mpremote_reaches_the_repl_while_main_py_runs(tmp_path, loop):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "main.py").write_text("import time\nwhile True:\n" + loop)
    board = LoopbackBoard(fs)
    try:
        time.sleep(0.5)
        assert board.device.busy
        r = mpremote(board.port, "exec", "print('in')")  # \r\x03 stops main.py first
        assert r.returncode == 0 and r.stdout == "in\n", r.stderr
    finally:
        board.close()


def test_hard_reset_from_the_board_process_stops_running_code(dev):
    (dev.fs / "main.py").write_text("started = 1\n")
    send(dev, b"\x01")
    dev.out.take()
    dev.on_data(b"x = 1\nwhile True:\n pass\n\x04")
    time.sleep(0.2)
    dev.reset(hard=True)  # EN pin: no Ctrl-C, the VM is stopped where it is
    text = dev.out.wait_for(b">>> ")
    assert b"rst:0x1 (POWERON_RESET)" in text and dev.mode == "friendly"
    assert dev.wait_idle()
    assert send(dev, b"started\r").endswith(b"1\r\n>>> ")  # main.py ran after the reset
    assert b"NameError" in send(dev, b"x\r")
    dev.reset(hard=True)  # idle at the prompt
    dev.out.wait_for(b"POWERON_RESET")


def test_close_stops_a_busy_vm_quickly(tmp_path):
    out = Output()
    device = AppDevice(tmp_path, out)
    assert device.wait_idle(20)
    device.on_data(b"while True: pass\r")
    time.sleep(0.2)
    start = time.monotonic()
    device.close()
    assert time.monotonic() - start < 3
    assert not device._thread.is_alive()


def test_input_reads_a_line_from_the_serial_port(dev):
    dev.out.take()
    dev.on_data(b"name = input('who? ')\r")
    dev.out.wait_for(b"who? ")
    assert dev.busy
    dev.on_data(b"bobx\x08\r")
    assert dev.wait_idle()
    assert dev.out.take().endswith(b"who? bob\r\n>>> ")
    assert send(dev, b"name\r").endswith(b"'bob'\r\n>>> ")


def test_timer_callbacks_keep_running_at_the_prompt(dev):
    send(dev, b"from machine import Timer\r")
    send(dev, b"n = 0\r")
    send(dev, b"def cb(t):\rglobal n\rn += 1\r\r")
    send(dev, b"Timer(0).init(period=50, callback=cb)\r")
    time.sleep(0.6)  # idle at the prompt: virtual time follows the wall clock
    dev.wait_idle()
    out = send(dev, b"n\r")
    assert int(out.split(b"\r\n")[1]) >= 8


_BIG_FRAME_GC = (b"import gc\ndef f():\n" + b"".join(b"    v%d = %d\n" % (i, i) for i in range(12))
                 + b"    gc.collect()\n    x = [str(i) for i in range(300)]\n    return v11\n"
                 + b"print(sum(f() for k in range(5)), gc.isenabled(), gc.mem_alloc() > 0)")


def test_gc_collect_is_harmless_on_the_wasi_board(wasi_dev):
    """The WASI collector frees frames of running big functions; the board's gc shim makes
    gc.collect() a no-op, so a function with many locals survives it (it crashes the VM
    otherwise, see docs/vboard-app.md)."""
    send(wasi_dev, b"\x01")
    assert raw_exec(wasi_dev, _BIG_FRAME_GC) == b"OK55 False True\r\n\x04\x04>"
    assert wasi_dev.reboots == 1


def test_the_native_board_collects_for_real(dev):
    """The native port's collector sees every frame: enabled, and the same code survives it."""
    send(dev, b"\x01")
    assert raw_exec(dev, _BIG_FRAME_GC) == b"OK55 True True\r\n\x04\x04>"
    code = b"import gc\nx = [bytearray(1000) for i in range(50)]\na = gc.mem_alloc()\nx = None\ngc.collect()\nprint(a - gc.mem_alloc() > 40000)"
    assert raw_exec(dev, code) == b"OKTrue\r\n\x04\x04>"


def test_speed_paces_virtual_time_to_the_wall_clock(tmp_path):
    out = Output()
    device = AppDevice(tmp_path, out, speed=1.0)
    try:
        assert device.wait_idle(20)
        start = time.monotonic()
        assert send_to(device, out, b"import time; time.sleep_ms(400)\r").endswith(b">>> ")
        assert 0.35 < time.monotonic() - start < 3
    finally:
        device.close()


def send_to(device, out, data: bytes) -> bytes:
    out.take()
    device.on_data(data)
    assert device.wait_idle(20)
    return out.take()


@pytest.mark.parametrize("runtime", ["native", "wasi"])
def test_os_uname_names_the_profile_chip_as_the_esp32_port_does(tmp_path, runtime):
    # ports/esp32/boards/ESP32_GENERIC_S3/mpconfigboard.h: "Generic ESP32S3 module" with MCU
    # "ESP32S3"; os.uname().machine joins them with " with "
    device = _board(tmp_path, runtime=runtime, board="xiao-esp32s3")
    try:
        raw_exec(device, b"\x01")
        out = raw_exec(device, b"import os\nu = os.uname()\nprint(u.sysname, u.release, "
                               b"u.machine)")
        assert b"OKesp32 1.27.0 Generic ESP32S3 module with ESP32S3\r\n" in out
    finally:
        device.close()
