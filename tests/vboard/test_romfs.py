"""ROMFS on the virtual board: the "romfs" partition in the board's flash, `vfs.rom_ioctl` and
`esp32.Partition` over it, the image mounted at /rom at boot, and real mpremote's `romfs query`
and `romfs deploy` against it."""

from __future__ import annotations

import contextlib
import io

import pytest
from app_helpers import LoopbackBoard, Output, mpremote
from mpremote.romfs import make_romfs
from romfs_board import ROMFS, flash_file

from retrorun.devtools.vboard.flash import Flash
from retrorun.devtools.vboard.repl import AppDevice


def _flash(tmp_path, romfs: bool = True) -> Flash:
    return Flash(flash_file(tmp_path / "flash.bin", romfs))


def _image(tmp_path, text: str) -> bytes:
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True, exist_ok=True)
    (src / "lib" / "hello.py").write_text(text)
    with contextlib.redirect_stdout(io.StringIO()):
        return make_romfs(str(src), mpy_cross=True)


def _raw(device, out, code: str) -> str:
    out.take()
    device.on_data(b"\x01")
    assert device.wait_idle(20)
    out.take()
    device.on_data(code.encode() + b"\x04")
    assert device.wait_idle(20)
    return out.take().decode(errors="replace")


def test_an_image_in_the_romfs_partition_is_mounted_and_imported_in_place(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    flash = _flash(tmp_path)
    romfs = ROMFS
    flash.program(romfs.offset, _image(tmp_path, "def f():\n    return 'hi from rom'\n"))
    out = Output()
    device = AppDevice(fs, out, flash=flash)
    assert device.build == "romfs"  # the flash holds a custom build with ROMFS
    try:
        assert device.wait_idle(20)
        got = _raw(device, out, "import sys, vfs, os\nimport hello\n"
                                "print(hello.f(), hello.__file__)\nprint(sys.path)\n"
                                "print(vfs.rom_ioctl(1), len(vfs.rom_ioctl(2, 0)), os.listdir('/rom'))\n"
                                "d = vfs.rom_ioctl(2, 0)\nprint(d.ioctl(4, 0), d.ioctl(5, 0))\n")
        assert "hi from rom /rom/lib/hello.mpy" in got
        assert "'.frozen', '/rom', '/rom/lib', '/lib'" in got  # the firmware's search order
        assert f"1 {romfs.size} ['lib']" in got
        assert f"{romfs.size // 4096} 4096" in got
    finally:
        device.close()
        flash.close()


def test_without_a_romfs_partition_there_is_no_rom_segment(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    flash = _flash(tmp_path, romfs=False)  # the stock table: no romfs partition
    out = Output()
    device = AppDevice(fs, out, flash=flash)
    assert device.build == "romfs"  # the flash holds a custom build with ROMFS
    try:
        assert device.wait_idle(20)
        got = _raw(device, out, "import sys, vfs\nprint(vfs.rom_ioctl(1), vfs.rom_ioctl(2, 0), "
                                "'/rom' in sys.path)\n")
        assert "0 -22 False" in got
    finally:
        device.close()
        flash.close()


@pytest.mark.slow
def test_mpremote_romfs_query_and_deploy(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    flash = _flash(tmp_path)
    board = LoopbackBoard(fs, flash=flash)
    try:
        assert board.device.wait_idle(20)
        r = mpremote(board.port, "romfs", "query")
        assert r.returncode == 0, r.stderr
        assert "ROMFS0 partition has size 262144 bytes (64 blocks of 4096 bytes each)" in r.stdout
        assert "Not a valid ROMFS" in r.stdout  # erased flash
        src = tmp_path / "app"
        (src / "lib").mkdir(parents=True)
        (src / "lib" / "hello.py").write_text("print('hello from', __file__)\n")
        r = mpremote(board.port, "romfs", "deploy", str(src), "+", "soft-reset")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "ROMFS image deployed" in r.stdout
        r = mpremote(board.port, "exec", "import hello")
        assert r.stdout == "hello from /rom/lib/hello.mpy\n", r.stdout + r.stderr
        r = mpremote(board.port, "romfs", "query")
        assert "ROMFS image size:" in r.stdout, r.stdout
        assert flash.read(ROMFS.offset, 3) == b"\xd2\xcd\x31"  # written to the flash file
    finally:
        board.close()
        flash.close()


def test_a_stock_build_has_no_romfs_even_with_an_image_in_the_partition(tmp_path):
    """A micropython.org esp32 download (MICROPY_VFS_ROM 0): no vfs.rom_ioctl, no VfsRom; an
    image left in a romfs partition is not mounted, and real mpremote finds no ROMFS."""
    fs = tmp_path / "fs"
    fs.mkdir()
    flash = Flash(flash_file(tmp_path / "flash.bin", romfs=True, firmware="stock"))
    flash.program(ROMFS.offset, _image(tmp_path, "def f():\n    return 'hi from rom'\n"))
    board = LoopbackBoard(fs, flash=flash)
    try:
        assert board.device.build == "stock"
        assert board.device.wait_idle(20)
        r = mpremote(board.port, "exec", "import sys, vfs\nprint(hasattr(vfs, 'rom_ioctl'), "
                                         "hasattr(vfs, 'VfsRom'), '/rom' in sys.path)")
        assert r.stdout == "False False False\n", r.stdout + r.stderr
        r = mpremote(board.port, "romfs", "query")
        assert r.stdout.strip() == "ROMFS is not enabled on this device", r.stdout + r.stderr
    finally:
        board.close()
        flash.close()
