"""The static firmware checks catch what an ESP32 would reject."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_firmware", ROOT / "tools/check_firmware.py")
check_firmware = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_firmware)


@pytest.mark.slow
def test_firmware_passes():
    assert check_firmware.check([ROOT / "firmware"]) == []


def test_misspelt_pin_constant_fails_pyright(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import machine\np = machine.Pin(2, machine.Pin.OUTPT)\n")
    errors = check_firmware.check([tmp_path])
    assert any("OUTPT" in e for e in errors), errors


def test_cpython_only_api_fails_pyright(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import time\ntime.perf_counter()\n")
    errors = check_firmware.check([tmp_path])
    assert any("perf_counter" in e for e in errors), errors


def test_syntax_micropython_rejects_fails_mpy_cross(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("match 1:\n    case 1:\n        pass\n")
    errors = check_firmware.mpy_cross_errors([bad])
    assert errors and "SyntaxError" in errors[0]


def test_good_file_passes(tmp_path):
    good = tmp_path / "good.py"
    good.write_text("import machine\np = machine.Pin(2, machine.Pin.OUT)\np.value(1)\n")
    assert check_firmware.check([tmp_path]) == []
