"""The device's machine shim reaching the host hardware models (retrorun.devtools.vboard.hw)."""

from __future__ import annotations

import errno
import itertools
import json
import time

import pytest
from app_helpers import Output

from retrorun.devtools.vboard import wiring
from retrorun.devtools.vboard import world as worldmod
from retrorun.devtools.vboard.repl import AppDevice
from retrorun.provision.boards import get_board


class RegisterModel:
    """A tiny I2C chip: 16-bit registers holding their own address; writes are recorded."""

    def __init__(self):
        self.writes = []

    def read(self, register, count):
        return bytes((register + i) & 0xFF for i in range(count))

    def write(self, register, data):
        self.writes.append((register, bytes(data)))


class World:
    def __init__(self, mm):
        self.mm = mm

    def distance_mm(self, t_us):
        return self.mm


def make(tmp_path, hardware=None, **options):
    fs = tmp_path / "fs"
    fs.mkdir(parents=True, exist_ok=True)
    out = Output()
    device = AppDevice(fs, out, hardware=hardware, **options)
    assert device.wait_idle(20)
    device.out = out
    device.on_data(b"\x01")
    assert device.wait_idle()
    return device


def run(device, code: str, timeout: float = 20) -> str:
    device.out.take()
    device.on_data(code.encode() + b"\x04")
    assert device.wait_idle(timeout)
    out = device.out.take()
    assert out.startswith(b"OK") and out.endswith(b"\x04\x04>"), out
    return out[2:-3].decode()


@pytest.fixture
def board(tmp_path):
    hw = wiring.from_profile(get_board("esp32-devkitc").profile, distance_mm=World(1000).distance_mm,
                            battery_v=3.9)
    device = make(tmp_path, hardware=hw)
    yield device
    device.close()


def test_pwm_duty_changes_form_a_timeline_in_virtual_time(board):
    run(board, "import time\nfrom machine import Pin, PWM\nt0 = time.ticks_us()\n"
               "m = PWM(Pin(27), freq=200, duty_u16=0)\ntime.sleep_ms(100)\n"
               "m.duty_u16(40000)\ntime.sleep_ms(250)\nm.duty(512)\ntime.sleep_ms(50)\n"
               "m.deinit()\nprint(time.ticks_diff(time.ticks_us(), t0))")
    line = board.hw.haptic_timeline(27)
    assert [(f, d) for _, _, f, d in line] == [(200, 0), (200, 40000), (200, 32799), (0, 0)]
    t = [e[0] - line[0][0] for e in line]
    assert 100_000 <= t[1] < 105_000
    assert 350_000 <= t[2] < 360_000
    assert 400_000 <= t[3] < 412_000


def test_i2c_reads_and_writes_reach_the_plugged_model(board):
    chip = RegisterModel()
    board.hw.plug_i2c(0, 0x29, chip)
    out = run(board, "from machine import I2C, Pin\ni2c = I2C(0, scl=Pin(22), sda=Pin(21))\n"
                     "print(i2c.scan())\nb = bytearray(3)\n"
                     "i2c.readfrom_mem_into(0x29, 0x010F, b, addrsize=16)\nprint(list(b))\n"
                     "i2c.writeto_mem(0x29, 0x0030, b'\\x01\\x02')\n"
                     "try:\n    i2c.readfrom_mem(0x77, 0, 1)\nexcept OSError as e:\n"
                     "    print('nack', e.errno)")
    lines = out.split("\r\n")
    assert 41 in eval(lines[0])
    assert lines[1] == "[15, 16, 17]"
    assert chip.writes == [(0x30, b"\x01\x02")]
    assert lines[2] == f"nack {errno.ENODEV}"


def test_ultrasonic_echo_time_pulse_us(board):
    board.hw.distance_mm = World(1715).distance_mm
    # round trip at 20 C: sound at 331.3 + 0.606 * 20 m/s (the HC-SR04 model's default air)
    round_trip_us = round(2 * 1.715 / (331.3 + 0.606 * 20) * 1e6)  # 9988
    out = run(board, "import time\nfrom machine import Pin, time_pulse_us\n"
                     "trig = Pin(25, Pin.OUT, value=0)\necho = Pin(26, Pin.IN)\n"
                     "trig.value(1)\ntime.sleep_us(10)\ntrig.value(0)\n"
                     "print(time_pulse_us(echo, 1, 30000))")
    assert abs(int(out.strip()) - round_trip_us) <= 1


def test_pin_irq_wakes_an_asyncio_task_at_the_press_time(board):
    press_at = board.hw.now_us + 5_000_000
    board.hw.press_button(13, press_at, 200_000)
    out = run(board, "import asyncio, time\nfrom machine import Pin\n"
                     "flag = asyncio.ThreadSafeFlag()\n"
                     "b = Pin(13, Pin.IN, Pin.PULL_UP)\n"
                     "b.irq(lambda p: flag.set(), Pin.IRQ_FALLING)\n"
                     "async def main():\n    await flag.wait()\n"
                     "    return time.ticks_us(), b.value()\n"
                     "print(asyncio.run(main()))")
    woke, level = eval(out)
    assert 0 <= board.ticks_us - woke < 20_000
    # MicroPython's asyncio polls the flag when its wait ends: the press ends the wait, the IRQ
    # handler runs, and the task wakes at the press (computation takes no virtual time here)
    assert 0 <= woke - (press_at - board._boot_us) < 1_000
    assert level == 0


def test_adc_battery_timer_and_unique_id(board):
    out = run(board, "import time\nfrom machine import ADC, Pin, Timer, unique_id\n"
                     "a = ADC(Pin(35), atten=ADC.ATTN_11DB)\nprint(a.read_uv())\n"
                     "n = 0\ndef cb(t):\n    global n\n    n += 1\nt = Timer(0)\n"
                     "t.init(mode=Timer.PERIODIC, period=100, callback=cb)\n"
                     "time.sleep(1)\nt.deinit()\ntime.sleep(1)\nprint(n)\nprint(unique_id().hex())")
    uv, ticks, uid = out.split("\r\n")[:3]
    assert int(uv) == 1_950_000  # 3.9 V through the 2:1 divider
    assert int(ticks) == 10
    assert uid == board.hw.mac.hex()


def test_watchdog_expiry_resets_the_board(board):
    board.out.take()
    board.on_data(b"import time, machine\nw = machine.WDT(timeout=1000)\n"
                  b"for i in range(3):\n    w.feed()\n    time.sleep_ms(500)\n"
                  b"print('fed ok')\ntime.sleep(2)\nprint('not reached')\n\x04")
    text = board.out.wait_for(b">>> ")
    assert b"fed ok" in text and b"not reached" not in text
    assert b"rst:0x7 (TG0WDT_SYS_RESET)" in text
    assert board.wait_idle()
    board.out.take()
    board.on_data(b"import machine; machine.reset_cause()\r")
    assert board.wait_idle()
    assert board.out.take().endswith(b"3\r\n>>> ")


def test_profile_with_missing_models_degrades_gracefully(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *args):
        if name.startswith("retrorun.devtools.models.") and not name.endswith(".bus"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(wiring.importlib, "import_module", fake)
    hw = wiring.from_profile(get_board("esp32-s3-devkitc-1").profile)
    assert hw.i2c.get(0) is None or hw.i2c[0].scan() == []
    assert len(hw.notes) == 3 and all("no model" in n for n in hw.notes)
    assert hw.handle("Is0") == ""
    assert hw.handle(f"Ir0 {0x29} 0 1") == f"E{errno.ENODEV}"


def test_firmware_drivers_range_through_the_board_models(tmp_path):
    """The real VL53L1X (I2C) and TF-Luna (UART) drivers measure the scenario's distance."""
    from retrorun.paths import retrofw_parent

    world = World(1234)
    results = {}
    for name, setup in (
        ("esp32-s3-devkitc-1", "from retrofw.drivers.vl53l1x import VL53L1X\n"
                               "from machine import I2C, Pin\n"
                               "s = VL53L1X(I2C(0, scl=Pin(9), sda=Pin(8)))\ns.start()\n"),
        ("xiao-esp32s3", "from retrofw.drivers.tfluna import TFLuna\nfrom machine import UART\n"
                         "s = TFLuna(UART(1, 115200, tx=7, rx=8))\n"),
    ):
        hw = wiring.from_profile(get_board(name).profile, distance_mm=world.distance_mm)
        device = make(tmp_path / name, hardware=hw, mounts={"/_fw": retrofw_parent()})
        try:
            out = run(device, setup + "import time\nr = []\nfor i in range(10):\n"
                                      "    time.sleep_ms(100)\n    r.append(s.measure())\n"
                                      "print(r[-1])")
            results[name] = int(out.strip().split("\r\n")[-1])
        finally:
            device.close()
    assert abs(results["esp32-s3-devkitc-1"] - 1234) <= 40, results
    assert abs(results["xiao-esp32s3"] - 1234) <= 20, results  # 1 cm steps + noise


def test_scenario_file_drives_the_echo_distance(tmp_path):
    """A simulator scenario as the world: the person walking toward the runner is only heard
    (HC-SR04, weak echo from clothing) in the last ~2.6 m, around 13-14 s after power-on."""
    from retrorun.devtools.sim.scenario import SCENARIO_DIR

    device = make(tmp_path, board="esp32-devkitc",
                  scenario=str(SCENARIO_DIR / "person_toward_hcsr04.json"))
    try:
        out = run(device, "import time\nfrom machine import Pin, time_pulse_us\n"
                          "trig = Pin(25, Pin.OUT, value=0)\necho = Pin(26, Pin.IN)\n"
                          "def ping():\n    trig.value(1)\n    time.sleep_us(10)\n"
                          "    trig.value(0)\n    return time_pulse_us(echo, 1, 60000)\n"
                          "r = []\nfor i in range(150):\n    time.sleep_ms(100)\n"
                          "    r.append((time.ticks_ms(), ping() * 343 // 2000))\n"
                          "print([x for x in r if x[1] < 3000])")
    finally:
        device.close()
    seen = eval(out.strip())
    assert seen, out
    assert 12_000 < seen[0][0] < 14_500 and 2_000 < seen[0][1] <= 2_650
    assert all(b[1] < a[1] for a, b in itertools.pairwise(seen))  # closing in


def test_deepsleep_wakes_on_the_button_and_boots_again(board):
    (board.fs_dir / "main.py").write_text(
        "import machine\nprint('cause', machine.reset_cause(), 'wake', machine.wake_reason())\n")
    press_at = board.hw.now_us + 30_000_000
    board.hw.press_button(13, press_at, 200_000)
    board.out.take()
    board.on_data(b"import esp32, machine\nfrom machine import Pin\n"
                  b"esp32.wake_on_ext0(Pin(13, Pin.IN, Pin.PULL_UP), esp32.WAKEUP_ALL_LOW)\n"
                  b"machine.deepsleep()\n\x04")
    text = board.out.wait_for(b">>> ")
    assert b"rst:0x5 (DEEPSLEEP_RESET)" in text
    assert b"cause 4 wake 2" in text
    slept = [t for t, what in board.hw.log if what.startswith("deep sleep ends")]
    assert slept and slept[0] == press_at  # asleep until the press, then a new boot


def test_deepsleep_without_a_wake_source_sleeps_until_reset(board):
    """The esp32 port disables every wake source not configured: a button press does not wake
    a board that went to sleep without esp32.wake_on_ext0 (the earlier board woke on any
    input)."""
    board.hw.press_button(13, board.hw.now_us + 1_000_000, 200_000)
    board.out.take()
    board.on_data(b"import machine\nmachine.deepsleep()\n\x04")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and board.hw.next_event_us() is not None:
        time.sleep(0.05)  # the press passes in virtual time
    time.sleep(0.3)
    assert not any(what.startswith("deep sleep ends") for _, what in board.hw.log)
    assert b"DEEPSLEEP_RESET" not in board.out.take()
    assert any("no wake source" in what for _, what in board.hw.log)


def test_wake_on_ext0_takes_rtc_gpios_only(board):
    # ESP32 TRM, RTC_MUX pin list: GPIO13 is RTC_GPIO14, GPIO16 has no RTC function
    out = run(board, "import esp32\nfrom machine import Pin\n"
                     "esp32.wake_on_ext0(Pin(13), 0)\n"
                     "try:\n    esp32.wake_on_ext0(Pin(16), 0)\nexcept ValueError as e:\n"
                     "    print('refused', e)\n")
    assert out.strip() == "refused invalid pin"


def test_deployed_board_json_decides_the_wiring(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "board.json").write_text(json.dumps(get_board("xiao-esp32s3").profile))
    device = make(tmp_path)
    try:
        assert device.profile["name"] == "xiao-esp32s3"
        assert 1 in device.hw.uarts and sorted(device.hw.i2c[0].devices) == [90, 104]
        assert b"ESP32S3 module with ESP32S3" in device.banner
    finally:
        device.close()


def _running_scenario(cadence=None):
    runner = {"start_mps": 2.0, "segments": [{"duration_s": 10, "to_mps": 2.0}]}
    if cadence:
        runner["cadence_spm"] = cadence
    return {"name": "gait", "description": "steady backward run", "seed": 1, "duration_s": 20,
            "runner": runner, "objects": [], "sensor": {"kind": "hcsr04"},
            "expect": {"collision": False}}


@pytest.mark.parametrize("cadence", [None, 150])
def test_scenario_gait_has_one_bump_per_step(cadence):
    world = worldmod.ScenarioWorld(_running_scenario(cadence))
    expected = world.cadence_spm(1.0) / 60 * 10  # steps in 10 s
    if cadence:
        assert world.cadence_spm(1.0) == cadence
    mags = []
    for i in range(1000):  # 100 Hz
        x, y, z = world.accel(i / 100)
        mags.append((x * x + y * y + z * z) ** 0.5)
    ups = sum(1 for a, b in itertools.pairwise(mags) if a < 1.0 <= b)
    assert abs(ups - expected) <= 1.5, (ups, expected)
    assert max(mags) > 1.5 and min(mags) < 0.6


def test_imu_model_on_the_board_feels_the_gait(tmp_path):
    device = make(tmp_path, board="esp32-devkitc", scenario=_running_scenario())
    try:
        out = run(device, "import time, struct\nfrom machine import I2C, Pin\n"
                          "i2c = I2C(0, scl=Pin(22), sda=Pin(21))\n"
                          "i2c.writeto_mem(0x68, 0x6B, b'\\x00')\ntime.sleep_ms(50)\n"
                          "m = []\nfor i in range(100):\n    time.sleep_ms(20)\n"
                          "    x, y, z = struct.unpack('>hhh', i2c.readfrom_mem(0x68, 0x3B, 6))\n"
                          "    m.append(z)\nprint(min(m), max(m))")
    finally:
        device.close()
    lo, hi = (int(v) / 16384 for v in out.split())  # +-2 g range: 16384 LSB/g
    assert lo < 0.7 and hi > 1.4


def test_a_deployed_board_json_rewires_at_the_next_hard_reset(tmp_path):
    device = make(tmp_path)
    try:
        assert device.profile["name"] == "esp32-devkitc" and (device.hw.ultrasonic.trig.id, device.hw.ultrasonic.echo.id) == (25, 26)
        (device.fs_dir / "board.json").write_text(
            json.dumps(get_board("esp32-s3-devkitc-1").profile))
        device.reset(hard=True)
        device.out.wait_for(b"ESP32S3 module with ESP32S3")
        assert device.wait_idle()
        assert device.hw.ultrasonic is None and sorted(device.hw.i2c[0].devices) == [41, 90, 106]
    finally:
        device.close()


def test_the_tfluna_driver_knows_the_uart_buffer_parts_gives_it(tmp_path):
    """parts.py opens the TF-Luna's UART with a 512-byte receive buffer; a driver that assumes
    256 takes a full-looking buffer after a 300 ms stall (270 bytes of intact frames at 100
    frames/s) for an overrun and throws the frames away."""
    from retrorun.paths import retrofw_parent

    profile = get_board("xiao-esp32s3").profile
    hw = wiring.from_profile(profile, distance_mm=World(1500).distance_mm)
    device = make(tmp_path, hardware=hw, mounts={"/_fw": retrofw_parent()})
    try:
        out = run(device, "import time, json\nfrom retrofw import parts\n"
                          f"s = parts._make_tfluna({json.dumps(profile['distance'])}, None)\n"
                          "s.measure()\ntime.sleep_ms(300)\nv = s.measure()\n"
                          "print(v, s.fresh, s.overflows, s.rxbuf)")
        value, fresh, overflows, rxbuf = out.split()
        assert (fresh, overflows, rxbuf) == ("True", "0", "512")
        assert abs(int(value) - 1500) <= 30
    finally:
        device.close()


def test_pin_irq_has_no_hard_argument_as_on_the_esp32_port(board):
    # ports/esp32/machine_pin.c: allowed_args handler, trigger, wake; every handler is scheduled
    out = run(board, "from machine import Pin\np = Pin(26, Pin.IN)\n"
                     "try:\n    p.irq(lambda x: None, 3, hard=True)\n    print('accepted')\n"
                     "except TypeError:\n    print('TypeError')\n"
                     "p.irq(lambda x: None, 3)\nprint('soft ok')")
    assert out.split() == ["TypeError", "soft", "ok"]


def test_the_profiles_trig_us_and_timing_reach_the_hc_sr04(tmp_path):
    """parts builds the HC-SR04 driver from board.json: trig_us 20 gives 20 us TRIG pulses (the
    chip model logs each ping's TRIG width), timing irq arms pin interrupts on ECHO."""
    import json

    from retrorun.paths import retrofw_parent

    profile = json.loads(json.dumps(get_board("esp32-devkitc").profile))
    profile["distance"].update(trig_us=20, timing="irq")
    hw = wiring.from_profile(profile, distance_mm=World(1500).distance_mm)
    widths = []
    trig = hw.ultrasonic.trig
    rise = []
    trig.listeners.insert(0, lambda _pin, level: rise.append(hw.now_us) if level
                          else widths.append(hw.now_us - rise[-1]))
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "board.json").write_text(json.dumps(profile))
    device = make(tmp_path, hardware=hw, mounts={"/_fw": retrofw_parent()})
    try:
        out = run(device, "import sys\nsys.path.append('/_fw')\nimport time\n"
                          "from retrofw import parts\n"
                          "p = parts.load_profile()\n"
                          "s = parts.DISTANCE_FACTORIES['hcsr04'](p['distance'], None)\n"
                          "r = []\nfor i in range(5):\n    r.append(s.measure())\n"
                          "    time.sleep_ms(s.period_ms)\nprint(s.trig_us, s._irq, r[-1])")
    finally:
        device.close()
    trig_us, irq, last = out.strip().split("\r\n")[-1].split()
    assert (trig_us, irq) == ("20", "True")
    assert widths and all(w == 20 for w in widths), widths
    assert abs(int(last) - 1500) <= 15
