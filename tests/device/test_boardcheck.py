"""Board profiles: every shipped profile passes the validator, in both runtimes."""

import json

import pytest

from retrofw import boardcheck
from retrorun.errors import RetrorunError
from retrorun.paths import boards_dir
from retrorun.provision.boards import all_boards, get_board, load_profile

PROFILES = sorted(boards_dir().glob("*.json"))


def test_at_least_three_profiles():
    assert len(PROFILES) >= 3
    chips = {json.loads(p.read_text())["chip"] for p in PROFILES}
    assert {"esp32", "esp32s3"} <= chips


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_profile_valid_in_both_runtimes(both, path):
    code = f"""
import json
from retrofw import boardcheck
profile = json.loads({path.read_text()!r})
result = [list(p) for p in boardcheck.check(profile)]
"""
    problems = both.run(code)
    assert [p for p in problems if p[0] == "error"] == []


def _devkitc():
    return json.loads((boards_dir() / "esp32-devkitc.json").read_text())


def test_input_only_pin_as_trigger_is_refused_naming_the_pin(both):
    profile = _devkitc()
    profile["distance"]["trig"] = 34
    with pytest.raises(ValueError, match=r"distance\.trig: GPIO34 is input-only"):
        boardcheck.validate(profile)
    code = f"""
import json
from retrofw import boardcheck
try:
    boardcheck.validate(json.loads({json.dumps(profile)!r}))
    result = None
except ValueError as e:
    result = str(e)
"""
    assert "GPIO34 is input-only" in both.run(code)


@pytest.mark.parametrize("change, message", [
    (("haptic", "pin", 7), "SPI flash"),
    (("haptic", "pin", 24), "does not exist"),
    (("battery", "adc", 25), "no ADC1 channel"),
    (("led", "pin", 21), "already used by i2c.sda"),
    # ESP32 TRM RTC_MUX pin list: GPIO16 has no RTC function, so a button there cannot wake it
    (("button", "pin", 16), "button.pin: GPIO16 cannot wake esp32 from deep sleep"),
    (("distance", "kind", "sonar9000"), "distance.kind 'sonar9000'"),
    # HC-SR04 / JSN-SR04T datasheets: a TRIG pulse of at least 10 us starts a ping
    (("distance", "trig_us", 5), "distance.trig_us 5 is not 10-200"),
    (("distance", "trig_us", 10.5), "distance.trig_us 10.5 is not 10-200"),
    (("distance", "timing", "rmt"), "distance.timing 'rmt' is not pulse or irq"),
])
def test_bad_pins_refused(change, message):
    profile = _devkitc()
    part, field, value = change
    profile[part][field] = value
    with pytest.raises(ValueError, match=message):
        boardcheck.validate(profile)


def test_echo_timing_and_trigger_width_are_taken_from_the_profile():
    profile = _devkitc()
    profile["distance"].update(timing="irq", trig_us=20)
    assert boardcheck.validate(profile) == []


def test_strapping_pin_is_flagged_not_refused():
    profile = _devkitc()
    profile["led"]["pin"] = 2
    warnings = boardcheck.validate(profile)
    assert any("GPIO2 is a strapping pin" in w for w in warnings)


def test_missing_key_refused():
    profile = _devkitc()
    del profile["imu"]
    with pytest.raises(ValueError, match="missing key 'imu'"):
        boardcheck.validate(profile)


def test_host_registry_and_errors(tmp_path):
    assert set(all_boards()) >= {"esp32-devkitc", "esp32-s3-devkitc-1", "xiao-esp32s3"}
    bad = tmp_path / "bad.json"
    profile = _devkitc()
    profile["distance"]["trig"] = 36
    bad.write_text(json.dumps(profile))
    with pytest.raises(RetrorunError, match="GPIO36 is input-only"):
        load_profile(bad)
    with pytest.raises(RetrorunError, match="unknown board 'nope'"):
        get_board("nope")


def test_octal_psram_pins_are_reserved_on_an_s3_module_that_has_it():
    # ESP32-S3 datasheet, pin assignment: octal PSRAM (N8R8, S3R8) uses GPIO33-37
    profile = json.loads((boards_dir() / "xiao-esp32s3.json").read_text())
    assert profile["psram"] == "octal"
    profile["led"]["pin"] = 35
    errors = [p for p in boardcheck.check(profile) if p[0] == "error"]
    assert any("led.pin: GPIO35 is wired to the SPI flash or PSRAM" in p[1] for p in errors)
    profile["psram"] = "none"  # a module without octal PSRAM may use GPIO35
    assert not [p for p in boardcheck.check(profile) if p[0] == "error"]
    profile["psram"] = "octal-ish"
    assert any("psram 'octal-ish'" in p[1] for p in boardcheck.check(profile))


@pytest.mark.parametrize(("chip", "tx", "rx", "pin", "role"), [
    ("esp32s3", 43, 44, 43, "TX"),  # ESP32-S3 U0TXD / U0RXD
    ("esp32s3", 17, 44, 44, "RX"),
    ("esp32", 1, 16, 1, "TX"),  # ESP32 U0TXD GPIO1 / U0RXD GPIO3
    ("esp32", 17, 3, 3, "RX"),
])
def test_a_sensor_uart_on_the_repl_uart_pins_is_refused(chip, tx, rx, pin, role):
    # the esp32 port's UART0 REPL hears its pins until the app claims them: a TF-Luna's frames
    # carry 0x03 (Ctrl-C) about half the time
    profile = json.loads((boards_dir() / "xiao-esp32s3.json").read_text())
    profile["chip"] = chip
    profile["psram"] = "none"
    profile["distance"]["uart"].update(tx=tx, rx=rx)
    if chip == "esp32":
        profile.update(i2c=dict(profile["i2c"], sda=21, scl=22), button={"pin": 13},
                       battery={"adc": 35}, led={"pin": 32})
    message = (f"{profile['name']}: distance.uart.{role.lower()}: GPIO{pin} is {role} of the REPL "
               f"UART (UART0) on {chip}: the sensor's bytes reach the REPL until the app claims "
               "the pin (0x03 interrupts it); wire the sensor to other pins")
    assert ("error", message) in boardcheck.check(profile)
    with pytest.raises(ValueError, match="REPL UART"):
        boardcheck.validate(profile)


def test_the_xiao_profile_keeps_its_tfluna_off_the_repl_uart():
    profile = json.loads((boards_dir() / "xiao-esp32s3.json").read_text())
    uart = profile["distance"]["uart"]
    assert {uart["tx"], uart["rx"]}.isdisjoint({43, 44})
    assert boardcheck.check(profile) == []
