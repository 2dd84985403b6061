"""Real esptool (its CLI in a subprocess, and its library API) against `retrorun vboard --mode rom`.

The board runs as a separate process started with `retrorun vboard --mode rom --port-file F` and
stopped with SIGTERM, exactly as a user or CI would run it. Every command uses
`--before no-reset` (a TCP socket has no DTR/RTS) and `--after no-reset`, which makes esptool
leave the stub so the next command meets the ROM loader again.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FLASH_SIZE = 4 * 1024 * 1024


def start_board(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str, Path]:
    flash = tmp_path / "flash.bin"
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrorun", "vboard", "--mode", "rom", "--flash", str(flash),
         "--fs", str(tmp_path / "fs"), "--port-file", str(port_file), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"vboard did not start: {proc.communicate()}")
        time.sleep(0.05)
    return proc, port_file.read_text().strip(), flash


def stop_board(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("vboard ignored SIGTERM")
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("rom")
    proc, port, flash = start_board(tmp_path)
    yield port, flash, tmp_path
    status, _, err = stop_board(proc)
    assert status == 0, err


def esptool(port: str, *args: str, stub: bool = True) -> str:
    cmd = [sys.executable, "-m", "esptool", "--port", port, "--before", "no-reset",
           "--after", "no-reset"]
    if not stub:
        cmd.append("--no-stub")
    result = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def image(seed: int, size: int, compressible: bool) -> bytes:
    rng = random.Random(seed)
    if compressible:  # 4 bits of entropy per byte: deflates to about half
        data = bytes(rng.choice(b"0123456789abcdef") for _ in range(size))
    else:
        data = rng.randbytes(size)
    return b"\x00" + data[1:]  # not 0xE9: esptool leaves non-image data unchanged


def flash_bytes(flash: Path, offset: int, length: int) -> bytes:
    with open(flash, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def test_chip_id_read_mac_flash_id(board):
    port, _, _ = board
    out = esptool(port, "chip-id")
    assert "Detecting chip type... ESP32" in out
    assert "ESP32-D0WD-V3 (revision v3.0)" in out
    assert "Crystal frequency:  40MHz" in out
    assert "MAC:                24:0a:c4:5e:70:01" in esptool(port, "read-mac")
    out = esptool(port, "flash-id")
    assert "Manufacturer: ef" in out and "Device: 4016" in out
    assert "Detected flash size: 4MB" in out


@pytest.mark.parametrize(("stub", "compress", "offset", "seed"), [
    (True, True, 0x10000, 1),
    (True, False, 0x30000, 2),
    (False, True, 0x50000, 3),
    (False, False, 0x70000, 4),
])
def test_write_then_verify_leaves_exact_bytes(board, stub, compress, offset, seed):
    port, flash, tmp_path = board
    data = image(seed, 64 * 1024 + 100 * seed, compressible=True)
    path = tmp_path / f"img{seed}.bin"
    path.write_bytes(data)
    # --no-stub defaults to --no-compress, so say it explicitly either way
    args = ["write-flash", "--compress" if compress else "--no-compress", hex(offset), str(path)]
    out = esptool(port, *args, stub=stub)
    assert "Hash of data verified." in out
    assert ("compressed)" in out) == compress  # "Wrote N bytes (M compressed)"
    assert ("Stub flasher running." in out) == stub
    assert flash_bytes(flash, offset, len(data)) == data
    assert flash_bytes(flash, offset + len(data), 64) == b"\xff" * 64  # nothing written past it
    assert flash_bytes(flash, offset - 64, 64) == b"\xff" * 64
    out = esptool(port, "verify-flash", hex(offset), str(path), stub=stub)
    assert "Verification successful (digest matched)." in out
    # flip one byte in the file: verify must now fail
    path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    result = subprocess.run([sys.executable, "-m", "esptool", "--port", port, "--before",
                             "no-reset", "--after", "no-reset", "verify-flash", hex(offset),
                             str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def test_read_flash_back_with_and_without_stub(board):
    port, _flash, tmp_path = board
    data = image(9, 48 * 1024, compressible=False)
    (tmp_path / "r.bin").write_bytes(data)
    esptool(port, "write-flash", "0x90000", str(tmp_path / "r.bin"))
    esptool(port, "read-flash", "0x90000", str(len(data)), str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data
    esptool(port, "read-flash", "0x90100", "1000", str(tmp_path / "slow.bin"), stub=False)
    assert (tmp_path / "slow.bin").read_bytes() == data[0x100:0x100 + 1000]


def test_esptool_library_api(board):
    from esptool.cmds import attach_flash, detect_chip, read_flash, run_stub, write_flash

    port, flash, _ = board
    data = image(11, 20000, compressible=True)
    with detect_chip(port, connect_mode="no-reset") as esp:
        assert esp.CHIP_NAME == "ESP32"
        assert esp.read_mac() == (0x24, 0x0A, 0xC4, 0x5E, 0x70, 0x01)
        esp = run_stub(esp)
        attach_flash(esp)
        write_flash(esp, [(0xB0000, data)])
        assert esp.flash_md5sum(0xB0000, len(data)) == hashlib.md5(data).hexdigest()
        assert read_flash(esp, 0xB0000, len(data)) == data
        esp.soft_reset(True)  # back to the ROM loader for the next test
    assert flash_bytes(flash, 0xB0000, len(data)) == data


def test_erase_flash_then_board_stops_cleanly_on_sigterm(tmp_path):
    proc, port, flash = start_board(tmp_path)
    try:
        data = image(5, 8192, compressible=False)
        (tmp_path / "e.bin").write_bytes(data)
        esptool(port, "write-flash", "0x3000", str(tmp_path / "e.bin"))
        assert flash_bytes(flash, 0x3000, len(data)) == data
        out = esptool(port, "erase-region", "0x3000", "0x1000")
        assert "region erased successfully" in out
        assert flash_bytes(flash, 0x3000, 0x2000) == b"\xff" * 0x1000 + data[0x1000:]
        esptool(port, "erase-flash")
        assert flash.read_bytes() == b"\xff" * FLASH_SIZE
    finally:
        status, out, err = stop_board(proc)
    assert status == 0, err
    assert "socket://127.0.0.1:" in out and "stopped" in out
    assert not (tmp_path / "port").exists()  # the port file goes with the board


def test_cli_refuses_a_flash_file_of_odd_size(tmp_path):
    (tmp_path / "flash.bin").write_bytes(b"\xff" * 1000)
    result = subprocess.run(
        [sys.executable, "-m", "retrorun", "vboard", "--mode", "rom",
         "--flash", str(tmp_path / "flash.bin"), "--fs", str(tmp_path / "fs")],
        capture_output=True, text=True, timeout=60, env={**os.environ})
    assert result.returncode == 1
    assert result.stderr.startswith("retrorun: flash file") and "power of two" in result.stderr


def test_pty_port_with_esptool_default_reset_and_sigint(tmp_path):
    proc, port, _ = start_board(tmp_path, "--listen", "pty")
    try:
        assert port.startswith("/dev/")
        # a pty has no modem lines: esptool's reset fails softly and the ROM answers anyway
        result = subprocess.run([sys.executable, "-m", "esptool", "--port", port, "read-mac"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "MAC:                24:0a:c4:5e:70:01" in result.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out
