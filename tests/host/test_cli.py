"""The CLI skeleton: help, version, one-line errors with exit status 1, --json."""

import json
import subprocess
import sys

import pytest

from retrorun import __version__
from retrorun.cli.main import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"retrorun {__version__}"


def test_help_lists_only_implemented_commands(capsys):
    from retrorun.cli.main import COMMANDS, build_parser

    build_parser()
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for module in COMMANDS:
        assert module.rsplit(".", 1)[1] in out


def test_unknown_command_is_one_line_exit_1(capsys):
    assert main(["frobnicate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("retrorun: ") and err.count("\n") == 1


def test_error_from_library_is_one_line(tmp_path, capsys):
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    assert main(["boards", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("retrorun: board profile") and "not valid JSON" in err
    assert err.count("\n") == 1


def test_boards_json(capsys):
    assert main(["boards", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {b["name"] for b in data["boards"]} >= {"esp32-devkitc", "xiao-esp32s3"}


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "retrorun", "--version"], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and __version__ in proc.stdout
