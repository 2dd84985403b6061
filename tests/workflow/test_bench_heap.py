"""The heap benchmark measures the deployed (.mpy) firmware in MicroPython."""

import pytest

from retrorun.devtools.benchmarks.heap import TARGET_KB, measure


def test_code_figures_are_measured_on_the_32_bit_build():
    figures = measure("esp32-devkitc")
    # bytecode loaded from .mpy files is real heap: tens of KB, more with BLE
    assert figures["code_bytes"] > 20_000
    assert figures["ble_code_bytes"] > 5_000
    # executing in place from a ROMFS image leaves far less on the heap than .mpy files
    assert 0 < figures["in_place_code_bytes"] < figures["code_bytes"] / 1.5


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="session_peak_32bit_bytes 51,808 > 48 KB since the USB "
                   "console requests (issue 16): the live heap after boot grew by ~14 KB "
                   "(native) in the settings-import step, not by the console's own objects "
                   "(~1 KB); not yet explained, see docs/benchmarks.md")
def test_session_high_water_on_the_virtual_board_meets_the_target_with_romfs():
    from retrorun.devtools.benchmarks.heap_session import measure_session

    static = measure("esp32-devkitc")
    romfs = measure_session("esp32-devkitc", seconds=8, layout="romfs", static=static)
    assert romfs["recording_session"] is not None and romfs["session_file_bytes"] > 0
    assert romfs["samples"] == 16
    # the app's code and objects are measured: tens of KB, more than the import alone
    assert 20_000 < romfs["imported_bytes"] < romfs["session_peak_bytes"]
    # a 64-bit build's objects are bigger than a 32-bit one's, by less than pointers' 2x
    assert 1.3 < romfs["ratio_64_to_32"] < 2.2
    assert romfs["session_peak_32bit_bytes"] <= TARGET_KB * 1024, romfs
    # the app's own per-tick methods, on the running app, heap locked: the warning path and the
    # IMU path allocate nothing (log_sample's posture angle is float arithmetic: it allocates,
    # docs/benchmarks.md)
    assert not {"ranging", "motor", "imu"} & set(romfs["tick_methods_allocating"]), romfs
    # the same measurement sees the .mpy-file layout's bytecode on the heap: it would fail
    files = measure_session("esp32-devkitc", seconds=2, layout="files", static=static)
    assert files["session_peak_32bit_bytes"] > TARGET_KB * 1024
    assert files["session_peak_bytes"] > romfs["session_peak_bytes"] + 20_000
