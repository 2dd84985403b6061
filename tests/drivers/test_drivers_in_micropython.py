"""The real drivers, running in real MicroPython, against the host-side chip models.

The MicroPython side gets a machine.I2C / machine.UART look-alike that forwards every transfer
to the model through `host.call`, and its clock is the model's virtual clock. The very same
code (shim, import, scenario) also runs under CPython, `host.call` bound to the same bridge;
the two runs must produce identical readings.
"""

import errno
import itertools
import sys
from types import SimpleNamespace
from unittest import mock

from retrofw import wire
from retrorun.devtools.models.a02yyuw import A02YYUWModel
from retrorun.devtools.models.bus import I2CBus
from retrorun.devtools.models.drv2605 import DRV2605Model
from retrorun.devtools.models.hcsr04 import HCSR04Model
from retrorun.devtools.models.pwm import Clock, Pin
from retrorun.devtools.models.tfluna import TFLunaModel
from retrorun.devtools.models.vl53l1x import VL53L1XModel

VL53L1X_ADDRESS = 0x29  # VL53L1X datasheet: 0x52 as an 8-bit write address
DRV2605_ADDRESS = 0x5A  # DRV2605L datasheet (SLOS854): 7-bit address 0x5A

DEVICE_SHIM = """
import host
from binascii import hexlify, unhexlify

def _call(name, payload):
    return host.call(name, payload)

class I2C:
    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        r = _call("i2c_r", "%d %d %d" % (addr, reg, len(buf)))
        if r == "E":
            raise OSError(19)
        data = unhexlify(r)
        for i in range(len(buf)):
            buf[i] = data[i]
    def writeto_mem(self, addr, reg, buf, addrsize=8):
        if _call("i2c_w", "%d %d %s" % (addr, reg, hexlify(bytes(buf)).decode())) == "E":
            raise OSError(19)

class UART:
    def any(self):
        return int(_call("u_any", ""))
    def readinto(self, buf, n):
        data = unhexlify(_call("u_read", str(n)))
        for i in range(len(data)):
            buf[i] = data[i]
        return len(data)
    def write(self, buf):
        _call("u_write", hexlify(bytes(buf)).decode())
        return len(buf)

class Pin:
    def __init__(self, n):
        self.n = n
    def value(self, v=None):
        if v is None:
            return int(_call("pin_r", str(self.n)))
        _call("pin_w", "%d %d" % (self.n, v))

def time_pulse_us(pin, level, timeout):
    return int(_call("pulse", "%d %d %d" % (pin.n, level, timeout)))

def ticks_us():
    return int(_call("ticks_us", ""))

def sleep_us(us):
    _call("sleep_us", str(us))

def ticks_ms():
    return int(_call("ticks", ""))

def sleep_ms(ms):
    _call("sleep", str(ms))

def advance(ms):
    _call("sleep", str(ms))

def event(name):
    _call("event", name)
"""


class Bridge:
    """Host functions exposing a clock, an I2C bus and a UART port to the MicroPython side."""

    def __init__(self, clock, bus=None, uart=None, events=None, pins=None, pulse=None):
        self.clock, self.bus, self.uart, self.events = clock, bus, uart, events or {}
        self.pins, self.pulse_fn = pins or {}, pulse

    def functions(self):
        return {"i2c_r": self.i2c_r, "i2c_w": self.i2c_w, "u_any": self.u_any,
                "u_read": self.u_read, "u_write": self.u_write, "ticks": self.ticks,
                "sleep": self.sleep, "event": self.event, "pin_r": self.pin_r,
                "pin_w": self.pin_w, "pulse": self.pulse, "ticks_us": self.ticks_us,
                "sleep_us": self.sleep_us}

    def pin_r(self, n):
        return str(self.pins[int(n)].value())

    def pin_w(self, payload):
        n, v = map(int, payload.split())
        self.pins[n].value(v)
        return ""

    def pulse(self, payload):
        n, level, timeout = map(int, payload.split())
        return str(self.pulse_fn(self.pins[n], level, timeout))

    def ticks_us(self, _):
        return str(self.clock.ticks_us())

    def sleep_us(self, us):
        self.clock.advance(int(us))
        return ""

    def i2c_r(self, payload):
        addr, reg, n = map(int, payload.split())
        try:
            return self.bus.readfrom_mem(addr, reg, n, addrsize=16).hex()
        except OSError as exc:
            assert exc.errno == errno.ENODEV
            return "E"

    def i2c_w(self, payload):
        addr, reg, data = payload.split()
        try:
            self.bus.writeto_mem(int(addr), int(reg), bytes.fromhex(data), addrsize=16)
        except OSError:
            return "E"
        return ""

    def u_any(self, _):
        return str(self.uart.any())

    def u_read(self, n):
        return (self.uart.read(int(n)) or b"").hex()

    def u_write(self, data):
        self.uart.write(bytes.fromhex(data))
        return ""

    def ticks(self, _):
        return str(self.clock.ticks_ms())

    def sleep(self, ms):
        self.clock.advance(int(ms) * 1000)
        return ""

    def event(self, name):
        self.events[name]()
        return ""


def approach(t_us):
    """An obstacle closing from 3.5 m at 2 m/s, then standing at 0.4 m."""
    return max(400, round(3500 - 2000 * t_us / 1_000_000))


def run_both(mpy, world, import_line, scenario):
    """Run the shim, the import and the scenario in CPython and in MicroPython (each against a
    fresh world); the readings must be identical. Returns them."""
    code = DEVICE_SHIM + import_line + scenario
    fns = world().functions()
    # CPython: the very same shim, its `host.call` bound to the bridge directly
    with mock.patch.dict(sys.modules, {"host": SimpleNamespace(call=lambda n, p: fns[n](p))}):
        namespace = {}
        exec(code, namespace)
    expected = namespace["result"]
    got = mpy.eval(code, host=world().functions())
    assert got == expected
    return got


def ranging_scenario(make, steps, step_ms, events):
    """Scenario code for a ranging sensor: `s = <make>`, then `steps` times: advance `step_ms`,
    fire the events due at that step (`{step: event name}`), measure. Result: the readings."""
    fire = "".join(f'    if i == {i}:\n        event("{name}")\n' for i, name in events.items())
    return (f"\nout = []\ns = {make}\nfor i in range({steps}):\n    advance({step_ms})\n"
            f"{fire}    out.append(s.measure())\nresult = out\n")


def fault(model, name):
    """An event that gives `model` the fault `name`."""
    return lambda: setattr(model, "fault", name)


VL53_SCENARIO = ranging_scenario(
    "VL53L1X(I2C(), ticks_ms=ticks_ms, sleep_ms=sleep_ms, timing_budget_ms=33)", 60, 20,
    {40: "unplug", 45: "replug", 50: "sun"})


def vl53_world():
    clock = Clock()
    model = VL53L1XModel(clock, target=approach, seed=7)
    bus = I2CBus({VL53L1X_ADDRESS: model})
    events = {"unplug": lambda: bus.unplugged.add(VL53L1X_ADDRESS),
              "replug": lambda: bus.unplugged.clear(), "sun": fault(model, "sunlight")}
    return Bridge(clock, bus=bus, events=events)


def test_vl53l1x_in_micropython_matches_cpython(mpy):
    out = run_both(mpy, vl53_world, "from retrofw.drivers.vl53l1x import VL53L1X\n",
                   VL53_SCENARIO)
    distances = [v for v in out[:40] if v >= 0]
    assert len(distances) >= 20 and distances[-1] < distances[0] - 500  # it saw the approach
    assert wire.SENSOR_NO_ACK in out[40:45]
    assert out[-1] == wire.NO_READING  # 1.1 m away, beyond the 0.73 m sunlight range
    assert all(v >= 0 or v in (wire.NO_READING, wire.SENSOR_NO_ACK) for v in out)


TFL_SCENARIO = ranging_scenario("TFLuna(UART(), ticks_ms=ticks_ms, rate_hz=50)", 50, 40,
                                {30: "overexpose", 38: "silence"})


def tfl_world():
    clock = Clock()
    model = TFLunaModel(clock, target=approach, seed=3)
    events = {"overexpose": fault(model, "overexposed"), "silence": fault(model, "silent")}
    return Bridge(clock, uart=model.uart, events=events)


def test_tfluna_in_micropython_matches_cpython(mpy):
    out = run_both(mpy, tfl_world, "from retrofw.drivers.tfluna import TFLuna\n", TFL_SCENARIO)
    assert all(v >= 0 for v in out[1:30])
    assert out[29] < out[1] - 1000
    assert set(out[31:39]) == {wire.SENSOR_BLINDED}  # the event comes after the advance
    assert out[-1] == wire.SENSOR_TIMEOUT


DRV_SCENARIO = """
d = DRV2605(I2C(), actuator="lra", ticks_ms=ticks_ms)
out = [d.device_id, d.calibrating]
while d.update():  # the haptics task's ticks while the chip calibrates
    advance(20)
out += [d.calibrated_now, d.cal_failed, list(d.calibration), d.rtp_value(136)]
for strength in (255, 128, 0, 40):
    out.append(d.set(strength))
    advance(50)
out.append(d.play((47, 14, 1)))
advance(120)
out.append(d.playing())
advance(300)
out.append(d.playing())
event("unplug")
out.append(d.set(200))
out.append(d.ok)
event("replug")
out.append(d.set(200))
out.append(d.check())
event("power_off")
e = DRV2605(I2C(), actuator="lra", calibration=d.calibration, ticks_ms=ticks_ms)
out.append(e.calibrating or e.calibrated_now)
out.append(e.set(136))
f = DRV2605(I2C(), actuator="erm", ticks_ms=ticks_ms)
out.append(f.rtp_value(136))
result = out
"""


def drv_world():
    clock = Clock()
    model = DRV2605Model(clock)
    bus = I2CBus({DRV2605_ADDRESS: model})

    def replug():
        model.power_cycle()
        bus.unplugged.clear()

    events = {"unplug": lambda: bus.unplugged.add(DRV2605_ADDRESS), "replug": replug,
              "power_off": model.power_cycle}
    return Bridge(clock, bus=bus, events=events)


def test_drv2605_in_micropython_matches_cpython(mpy):
    out = run_both(mpy, drv_world, "from retrofw.drivers.drv2605 import DRV2605\n", DRV_SCENARIO)
    # calibrating after set-up, finished by update() (GO polled on the model's clock), the
    # result kept; after a power-off the result is written back (no new calibration); RTP
    # bytes: LRA unsigned 136, ERM signed 68
    assert out == [7, True, True, False, [0x09, 0x92, 2], 136, True, True, True, True, True, True,
                   False, False, False, True, 0, False, True, 68]


HCSR04_SCENARIO = """
s = HCSR04(Pin(25), Pin(26), time_pulse_us=time_pulse_us, ticks_us=ticks_us, sleep_us=sleep_us)
out = []
for i in range(12):
    if i == 8:
        event("stuck")
    out.append(s.measure())
    advance(60)
result = out
"""


def hcsr04_world():
    clock = Clock()
    trig, echo = Pin(25, Pin.OUT), Pin(26, Pin.IN)
    model = HCSR04Model(clock, trig, echo, target=approach)
    return Bridge(clock, pins={25: trig, 26: echo}, pulse=model.time_pulse_us,
                  events={"stuck": fault(model, "stuck_high")})


def test_hcsr04_in_micropython_matches_cpython(mpy):
    out = run_both(mpy, hcsr04_world, "from retrofw.drivers.hcsr04 import HCSR04\n",
                   HCSR04_SCENARIO)
    assert abs(out[0] - 3500) <= 35
    steps = [a - b for a, b in itertools.pairwise(out[:8])]
    assert all(120 < step < 200 for step in steps), out  # 2 m/s over 60 ms + the echo time
    assert out[8:] == [wire.NO_READING, wire.NO_READING, wire.SENSOR_STUCK, wire.SENSOR_STUCK]


UUS_SCENARIO = ranging_scenario('UARTUltrasonic(UART(), mode="trigger", ticks_ms=ticks_ms)', 16,
                                100, {8: "noise", 12: "silence"})


def uus_world():
    clock = Clock()
    model = A02YYUWModel(clock, mode="trigger", target=approach)
    events = {"noise": fault(model, "bad_checksum"), "silence": fault(model, "silent")}
    return Bridge(clock, uart=model.uart, events=events)


def test_uart_ultrasonic_in_micropython_matches_cpython(mpy):
    out = run_both(mpy, uus_world,
                   "from retrofw.drivers.uart_ultrasonic import UARTUltrasonic\n", UUS_SCENARIO)
    assert out[0] == wire.NO_READING and all(a > b for a, b in itertools.pairwise(out[1:9]))
    assert wire.SENSOR_BAD_FRAME in out[9:13] and out[-1] == wire.SENSOR_TIMEOUT
