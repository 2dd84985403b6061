"""The heap benchmark measures the deployed (.mpy) firmware in MicroPython."""

from retrorun.benchmarks.heap import TARGET_KB, measure


def test_heap_figures_are_measured_and_the_hot_paths_allocate_nothing():
    figures = measure("esp32-devkitc")
    assert figures["per_tick_allocation_free"], figures["allocates_per_tick"]
    assert set(figures["allocates_per_tick"]) == {"ranging", "motor", "imu", "log_sample"}
    # the working data (cores, buffers, an open session) fits the 48 KB target by far
    assert 1000 < figures["data_bytes"] <= TARGET_KB * 1024
    # bytecode loaded from .mpy files is real heap: tens of KB, more with BLE
    assert figures["code_bytes"] > 20_000
    assert figures["ble_code_bytes"] > 5_000
    assert figures["total_bytes"] == figures["code_bytes"] + figures["data_bytes"]
    # executing in place from a ROMFS image leaves far less on the heap than .mpy files
    assert 0 < figures["in_place_code_bytes"] < figures["code_bytes"] / 1.5
    assert figures["in_place_total_with_ble_bytes"] == (
        figures["in_place_code_bytes"] + figures["in_place_ble_code_bytes"]
        + figures["data_bytes"])
    assert figures["in_place_within_target"] == (
        figures["in_place_total_with_ble_bytes"] <= TARGET_KB * 1024)
