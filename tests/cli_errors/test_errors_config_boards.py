"""`retrorun config` and `retrorun boards` on unreadable files and non-finite numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrorun.paths import boards_dir


def test_config_validate_binary_file(fails, garbage):
    err = fails(["config", "validate", garbage.name])
    assert err == "retrorun: garbage.bin is not a text file; give a config JSON file"


@pytest.mark.parametrize("text, shown", [("nan", "NaN"), ("1e999", "Infinity"),
                                         ("-inf", "-Infinity")])
def test_config_set_non_finite_whole_number(fails, text, shown):
    # checked before any port is opened: the port does not exist
    err = fails(["config", "set", "--port", "/dev/ttyNOPE", f"steps.rate_hz={text}"])
    assert err == f"retrorun: steps.rate_hz={shown} is out of range: valid 25..100 Hz"


def test_config_validate_non_finite_whole_number(fails, work):
    (work / "c.json").write_text('{"steps.rate_hz": NaN}')
    err = fails(["config", "validate", "c.json"])
    assert err == "retrorun: c.json: steps.rate_hz=NaN is out of range: valid 25..100 Hz"


def test_config_whole_number_check_still_applies(fails):
    err = fails(["config", "set", "--port", "/dev/ttyNOPE", "steps.rate_hz=50.5"])
    assert "must be a whole number" in err


def test_boards_check_binary_file(fails, garbage):
    err = fails(["boards", "check", garbage.name])
    assert err.startswith("retrorun: board profile garbage.bin is not a text file; ")


def _profile(work: Path, **changes) -> str:
    data = json.loads((boards_dir() / "esp32-devkitc.json").read_text())
    data.update(changes)
    (work / "p.json").write_text(json.dumps(data))
    return "p.json"


@pytest.mark.parametrize("key, value", [("led", 5), ("battery", [1]), ("button", "x"),
                                        ("distance", 3), ("haptic", "erm"),
                                        ("micropython", "ESP32_GENERIC")])
def test_boards_check_part_not_an_object(fails, work, key, value):
    err = fails(["boards", "check", _profile(work, **{key: value})])
    assert err == (f"retrorun: board profile p.json is invalid: esp32-devkitc: '{key}' must be "
                   f"a JSON object, got {value!r}")


@pytest.mark.parametrize("chip", [["esp32"], {"a": 1}])
def test_boards_check_chip_of_wrong_type(fails, work, chip):
    err = fails(["boards", "check", _profile(work, chip=chip)])
    assert "chip" in err and "is not one of esp32, esp32c3, esp32s3" in err


def test_flash_with_profile_part_not_an_object(fails, work):
    err = fails(["flash", "--board", _profile(work, micropython="x"), "--version", "1.27.0",
                 "--port", "/dev/ttyNOPE"])
    assert "'micropython' must be a JSON object" in err


def test_config_validate_folder(fails, work):
    (work / "folder").mkdir()
    err = fails(["config", "validate", "folder"])
    assert err == ("retrorun: cannot read folder (Is a directory); give the path of a config "
                   "JSON file")


def test_boards_check_missing_file(fails):
    err = fails(["boards", "check", "no-such.json"])
    assert err == ("retrorun: cannot read board profile no-such.json: No such file or directory; "
                   "give a profile .json file or a name from 'retrorun boards'")
