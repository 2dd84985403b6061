"""The real drivers, running in real MicroPython, against the host-side chip models.

The MicroPython side gets a machine.I2C / machine.UART look-alike that forwards every transfer
to the model through `host.call`, and its clock is the model's virtual clock. The very same
scenario also runs under CPython; the two runs must produce identical readings.
"""

import errno

from retrofw import wire
from retrofw.drivers.tfluna import TFLuna
from retrofw.drivers.vl53l1x import VL53L1X
from retrorun.models.bus import I2CBus
from retrorun.models.pwm import Clock
from retrorun.models.tfluna import TFLunaModel
from retrorun.models.vl53l1x import VL53L1XModel

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

    def __init__(self, clock, bus=None, uart=None, events=None):
        self.clock, self.bus, self.uart, self.events = clock, bus, uart, events or {}

    def functions(self):
        return {"i2c_r": self.i2c_r, "i2c_w": self.i2c_w, "u_any": self.u_any,
                "u_read": self.u_read, "u_write": self.u_write, "ticks": self.ticks,
                "sleep": self.sleep, "event": self.event}

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


VL53_SCENARIO = """
out = []
s = VL53L1X(I2C(), ticks_ms=ticks_ms, sleep_ms=sleep_ms, timing_budget_ms=33)
for i in range(60):
    advance(20)
    if i == 40:
        event("unplug")
    if i == 45:
        event("replug")
    if i == 50:
        event("sun")
    out.append(s.measure())
result = out
"""


def vl53_world():
    clock = Clock()
    model = VL53L1XModel(clock, target=approach, seed=7)
    bus = I2CBus({wire.VL53_ADDR: model})
    events = {"unplug": lambda: bus.unplugged.add(wire.VL53_ADDR),
              "replug": lambda: bus.unplugged.clear(),
              "sun": lambda: setattr(model, "fault", "sunlight")}
    return Bridge(clock, bus=bus, events=events)


def run_both(mpy, world, import_line, scenario):
    # CPython: the same scenario, with the shim's names bound to the bridge directly
    bridge = world()
    fns = bridge.functions()

    class I2C:
        def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
            r = fns["i2c_r"](f"{addr} {reg} {len(buf)}")
            if r == "E":
                raise OSError(19)
            buf[:] = bytes.fromhex(r)

        def writeto_mem(self, addr, reg, buf, addrsize=8):
            if fns["i2c_w"](f"{addr} {reg} {bytes(buf).hex()}") == "E":
                raise OSError(19)

    class UART:
        def any(self):
            return int(fns["u_any"](""))

        def readinto(self, buf, n):
            data = bytes.fromhex(fns["u_read"](str(n)))
            buf[: len(data)] = data
            return len(data)

        def write(self, buf):
            fns["u_write"](bytes(buf).hex())
            return len(buf)

    namespace = {"VL53L1X": VL53L1X, "TFLuna": TFLuna, "I2C": I2C, "UART": UART,
                 "ticks_ms": lambda: int(fns["ticks"]("")),
                 "sleep_ms": lambda ms: fns["sleep"](str(ms)),
                 "advance": lambda ms: fns["sleep"](str(ms)),
                 "event": lambda name: fns["event"](name)}
    exec(scenario, namespace)
    expected = namespace["result"]
    got = mpy.eval(DEVICE_SHIM + import_line + scenario, host=world().functions())
    assert got == expected
    return got


def test_vl53l1x_in_micropython_matches_cpython(mpy):
    out = run_both(mpy, vl53_world, "from retrofw.drivers.vl53l1x import VL53L1X\n",
                   VL53_SCENARIO)
    distances = [v for v in out[:40] if v >= 0]
    assert len(distances) >= 20 and distances[-1] < distances[0] - 500  # it saw the approach
    assert wire.SENSOR_NO_ACK in out[40:45]
    assert out[-1] == wire.SENSOR_BLINDED  # 1.1 m away, beyond the 0.73 m sunlight range
    assert all(v >= 0 or v in (wire.NO_READING, wire.SENSOR_NO_ACK, wire.SENSOR_BLINDED)
               for v in out)


TFL_SCENARIO = """
out = []
s = TFLuna(UART(), ticks_ms=ticks_ms, rate_hz=50)
for i in range(50):
    advance(40)
    if i == 30:
        event("overexpose")
    if i == 38:
        event("silence")
    out.append(s.measure())
result = out
"""


def tfl_world():
    clock = Clock()
    model = TFLunaModel(clock, target=approach, seed=3)
    events = {"overexpose": lambda: setattr(model, "fault", "overexposed"),
              "silence": lambda: setattr(model, "fault", "silent")}
    return Bridge(clock, uart=model.uart, events=events)


def test_tfluna_in_micropython_matches_cpython(mpy):
    out = run_both(mpy, tfl_world, "from retrofw.drivers.tfluna import TFLuna\n", TFL_SCENARIO)
    assert all(v >= 0 for v in out[1:30])
    assert out[29] < out[1] - 1000
    assert set(out[31:39]) == {wire.SENSOR_BLINDED}  # the event comes after the advance
    assert out[-1] == wire.SENSOR_TIMEOUT
