"""`retrorun deploy` onto a virtual board whose flash has the romfs partition `retrorun flash`
makes: the firmware goes in as one ROMFS image, the app imports it from /rom, a second deploy
writes nothing, and `--layout files` takes the image out of the way again."""

import json
import threading

import pytest
from romfs_board import ROMFS, flash_file
from waiting import wait_for_live_lines

from retrorun.cli.main import main
from retrorun.link.serial_transport import SerialTransport

pytestmark = pytest.mark.slow

WHERE = "import retrofw.app as a\nprint(a.__file__)\n"


@pytest.fixture
def board(tmp_path):
    from retrorun.devtools.vboard.board import VirtualBoard

    vb = VirtualBoard(mode="app", listen="socket", fs_dir=tmp_path / "fs",
                      flash_path=flash_file(tmp_path / "flash.bin"))
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    yield vb
    vb.stop()
    thread.join(timeout=10)
    vb.close()


def _deploy(board, capsys, *extra):
    capsys.readouterr()
    assert main(["deploy", "--port", board.port, "--board", "esp32-devkitc", "--json",
                 *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_deploy_writes_a_romfs_image_the_app_runs_from(board, capsys):
    from retrofw.version import VERSION

    first = _deploy(board, capsys)
    assert first["layout"] == "romfs" and first["romfs_written"]
    assert first["firmware"] == VERSION  # status() answered from the image after a soft reset
    assert 40_000 < first["romfs_bytes"] <= ROMFS.size
    assert sorted(first["uploaded"]) == ["/board.json", "/boot.py", "/main.py"]
    assert not (board.fs_dir / "lib" / "retrofw").exists()
    assert board.flash.read(ROMFS.offset, 3) == b"\xd2\xcd\x31"
    with SerialTransport(board.port) as link:
        assert link.exec(WHERE).decode().strip() == "/rom/lib/retrofw/app.mpy"

    again = _deploy(board, capsys)
    assert again["layout"] == "romfs" and not again["romfs_written"] and again["uploaded"] == []

    files = _deploy(board, capsys, "--layout", "files")
    assert files["layout"] == "files" and files["firmware"] == VERSION
    assert (board.fs_dir / "lib" / "retrofw" / "app.mpy").exists()
    assert board.flash.read(ROMFS.offset, 3) == b"\xff\xff\xff"  # no longer shadows /lib
    with SerialTransport(board.port) as link:
        assert link.exec(WHERE).decode().strip() == "/lib/retrofw/app.mpy"

    back = _deploy(board, capsys)  # auto: back to ROMFS, the stale files removed
    assert back["layout"] == "romfs" and back["romfs_written"] and back["removed"] > 20
    assert not (board.fs_dir / "lib" / "retrofw").exists()


def test_a_board_without_the_partition_gets_files_and_a_note(tmp_path, capsys):
    from retrorun.devtools.vboard.board import VirtualBoard

    vb = VirtualBoard(mode="app", listen="socket", fs_dir=tmp_path / "fs",
                      flash_path=flash_file(tmp_path / "flash.bin", romfs=False))
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    try:
        capsys.readouterr()
        assert main(["deploy", "--port", vb.port, "--board", "esp32-devkitc"]) == 0
        out = capsys.readouterr().out
        assert "no 'romfs' partition" in out and "retrorun flash" in out
        assert (vb.fs_dir / "lib" / "retrofw" / "app.mpy").exists()
        assert main(["deploy", "--port", vb.port, "--layout", "romfs"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot deploy to ROMFS" in err
    finally:
        vb.stop()
        thread.join(timeout=10)
        vb.close()


def _vboard(tmp_path, flash_path):
    from retrorun.devtools.vboard.board import VirtualBoard

    vb = VirtualBoard(mode="app", listen="socket", fs_dir=tmp_path / "fs", flash_path=flash_path)
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    return vb, thread


def test_a_write_cut_short_leaves_no_valid_image(tmp_path):
    """The header block is erased first and written last: a deploy that dies mid-write must not
    leave a valid ROMFS header over a half-written body (it would shadow /lib)."""
    from retrorun.errors import RetrorunError
    from retrorun.provision.boards import get_board
    from retrorun.provision.deploy import deploy

    class CutLink(SerialTransport):
        writes = 0

        def exec(self, code, **kw):
            if "writeblocks" in code:
                CutLink.writes += 1
                if CutLink.writes == 5:
                    raise RetrorunError("link lost (test)")
            return super().exec(code, **kw)

    vb, thread = _vboard(tmp_path, flash_file(tmp_path / "flash.bin"))
    try:
        with CutLink(vb.port) as link, pytest.raises(RetrorunError, match="link lost"):
            deploy(link, get_board("esp32-devkitc"))
        data = vb.flash.read(ROMFS.offset, 5 * 4096)
        assert data[:4096] == b"\xff" * 4096  # no header
        assert data[4096:8192] != b"\xff" * 4096  # while later blocks were written
        with SerialTransport(vb.port) as link:
            link.soft_reset()
            assert link.exec("import sys\nprint('/rom' in sys.path)").strip() == b"False"
    finally:
        vb.stop()
        thread.join(timeout=10)
        vb.close()


def test_an_image_too_big_for_the_partition_falls_back_to_files_and_erases_the_old_one(
        tmp_path, capsys):
    """A stale image in a partition the new image does not fit is erased: it would shadow the
    files deploy writes (and report its own old version)."""
    from retrorun.devtools.vboard.flash import Flash, mark_formatted, write_firmware_names
    from retrorun.provision import partition_table as pt
    from retrorun.provision.romfs import build_image

    small = pt.with_romfs(pt.MICROPYTHON_ESP32_4MB, size=0x10000)  # 64 KB: the image is bigger
    part = pt.find(small, pt.ROMFS_LABEL)
    flash = Flash(tmp_path / "flash.bin")
    flash.program(pt.TABLE_OFFSET, pt.encode(small))
    write_firmware_names(flash, romfs=True)  # a MicroPython built with ROMFS
    mark_formatted(flash)  # that has run: its filesystem is made
    flash.program(part.offset, build_image({"lib/retrofw/__init__.py": b"",
                                            "lib/retrofw/version.py": b"VERSION = 'stale'\n"}))
    flash.close()
    vb, thread = _vboard(tmp_path, tmp_path / "flash.bin")
    try:
        capsys.readouterr()
        assert main(["deploy", "--port", vb.port, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["layout"] == "files" and "does not fit" in report["note"]
        from retrofw.version import VERSION

        assert report["firmware"] == VERSION
        assert vb.flash.read(part.offset, 3) == b"\xff\xff\xff"
    finally:
        vb.stop()
        thread.join(timeout=10)
        vb.close()


def test_interrupting_the_app_parks_its_watchdog(board, capsys):
    """Ctrl-C from the host (deploy, sync, config) must not leave the app's 8 s watchdog to
    reset the board under the host (the app gives it a 2-minute timeout as it stops), and when
    the host is done the app runs again: the board is never left silent at the REPL."""
    assert main(["deploy", "--port", board.port]) == 0
    wait_for_live_lines(board.port)  # the host restarted the app: it runs, its watchdog armed
    with SerialTransport(board.port, timeout=60) as host:  # Ctrl-C: the app stops
        assert host.exec("print('at the REPL')").strip() == b"at the REPL"
        board.app.hw.advance(20_000_000)  # 20 s at the REPL, as a slow sync or deploy takes
        assert not any("watchdog expired" in what for _t, what in board.app.hw.log)
        assert host.exec("print('still here')").strip() == b"still here"
    wait_for_live_lines(board.port)  # and again after this host is done
