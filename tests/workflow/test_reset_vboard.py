"""`retrorun reset` on the virtual board (real mpremote over socket://, the deployed app): the
board says "soft reboot" and answers again afterwards."""

import json

import pytest
from served_vboard import served_vboard

from retrorun.cli.main import main

pytestmark = pytest.mark.slow


def test_reset_reboots_the_board_and_it_answers_again(tmp_path, capsys):
    with served_vboard(mode="app", fs_dir=tmp_path / "fs",
                       flash_path=tmp_path / "flash.bin") as vb:
        assert main(["deploy", "--port", vb.port, "--board", "esp32-devkitc", "--json"]) == 0
        capsys.readouterr()
        assert main(["reset", "--port", vb.port, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc == {"port": vb.port, "rebooted": True, "ended_recording": None}
        assert main(["status", "--port", vb.port, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["board"] == "esp32-devkitc"
