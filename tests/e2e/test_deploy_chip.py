"""`retrorun deploy` checks the board's chip against the profile before writing anything: the
virtual ESP32-DevKitC (an ESP32, as its ROM loader says) refuses the XIAO ESP32S3 profile."""

import pytest
from served_vboard import served_vboard

from retrorun.cli.main import main
from retrorun.link.serial_transport import SerialTransport

pytestmark = pytest.mark.slow


@pytest.fixture
def esp32_board(tmp_path):
    with served_vboard(mode="app", fs_dir=tmp_path / "fs") as vb:
        yield vb


def test_the_virtual_board_answers_os_uname_as_the_esp32_port_does(esp32_board):
    # ports/esp32/boards/ESP32_GENERIC/mpconfigboard.h: MICROPY_HW_BOARD_NAME "Generic ESP32
    # module", MICROPY_HW_MCU_NAME "ESP32"; machine = board name + " with " + MCU name
    with SerialTransport(esp32_board.port) as link:
        out = link.exec("import os\nu = os.uname()\nprint(u.sysname, u.release)\n"
                        "print(u.machine)\nprint(u[4] == u.machine)\n").decode().splitlines()
    assert out == ["esp32 1.27.0", "Generic ESP32 module with ESP32", "True"]


def test_deploy_of_a_profile_for_another_chip_is_refused_before_writing(esp32_board, capsys):
    before = sorted(p.name for p in esp32_board.fs_dir.iterdir())
    capsys.readouterr()
    assert main(["deploy", "--port", esp32_board.port, "--board", "xiao-esp32s3"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"retrorun: the board on {esp32_board.port} is an ESP32 (Generic ESP32 module with "
        "ESP32), but board profile 'xiao-esp32s3' is for ESP32-S3; pass --board with a profile "
        "for esp32 (see 'retrorun boards')\n")
    assert sorted(p.name for p in esp32_board.fs_dir.iterdir()) == before  # nothing written
