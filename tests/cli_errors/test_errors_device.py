"""Device commands against a virtual board that has MicroPython but not the retrorun firmware."""

from __future__ import annotations

import threading

import pytest


@pytest.fixture
def bare_board(tmp_path):
    from retrorun.devtools.vboard.board import VirtualBoard

    vb = VirtualBoard(mode="app", listen="socket", fs_dir=tmp_path / "board-fs",
                      flash_path=tmp_path / "flash.bin")
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    yield vb.port
    vb.stop()
    thread.join(timeout=10)
    vb.close()


@pytest.mark.parametrize("argv", [["status"], ["config", "get"], ["pair"]])
def test_firmware_not_deployed(fails, bare_board, argv):
    err = fails([*argv, "--port", bare_board])
    assert err == (f"retrorun: the retrorun firmware is not on the board on {bare_board} "
                   "(ImportError: no module named 'retrofw'); run 'retrorun deploy'")
