"""Integer conversions of the drivers give the same answers under CPython and MicroPython."""

from driver_rigs import MP_CLOCK

from retrofw import wire

HCSR04_SNIPPET = """
from retrofw.drivers.hcsr04 import HCSR04
class P:
    def value(self, v=None):
        return 0
    def irq(self, handler, trigger):
        pass
def nothing(*a):
    return 0
out = []
for temp in (-20, 0, 20, 35, 50):
    s = HCSR04(P(), P(), temperature_c=temp, max_mm=6000, time_pulse_us=nothing,
               ticks_us=nothing, sleep_us=nothing)
    out.append([s.timeout_us] + [s._to_mm(us) for us in (0, 117, 1000, 5831, 23295, 34999)])
result = out
"""


def test_hcsr04_echo_to_mm_identical(both):
    out = both.run(HCSR04_SNIPPET)
    at_20c = out[2]
    assert abs(at_20c[4] - 1001) <= 2  # 5831 us is 1 m at 20 C
    assert out[0][4] < at_20c[4] < out[4][4]  # warmer air, faster sound, longer distance


VL53_SNIPPET = MP_CLOCK + """
from retrofw.drivers.vl53l1x import VL53L1X
class Bus:
    def __init__(self):
        self.regs = bytearray(0x120)
        self.regs[0x10F] = 0xEA
        self.regs[0x110] = 0xCC
        self.regs[0xE5] = 1
    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        self.regs[0x31] = 1
        for i in range(len(buf)):
            buf[i] = self.regs[reg + i]
    def writeto_mem(self, addr, reg, buf, addrsize=8):
        for i in range(len(buf)):
            self.regs[reg + i] = buf[i]
s = VL53L1X(Bus(), ticks_ms=ticks, sleep_ms=sleep)
res = bytearray(17)
out = []
for raw in range(0, 26):
    for ambient in (10, 200):
        res[0] = raw
        res[2] = len(out) & 255  # the stream count: a new result each time (else: frozen)
        res[7] = ambient >> 8
        res[8] = ambient & 255
        res[13] = 0x07
        res[14] = raw
        res[16] = raw + ambient
        out.append([raw, ambient, s._convert(res, raw * 100 + ambient), s.status, s.usable_mm])
result = out
"""


def test_vl53l1x_status_mapping_identical(both):
    out = both.run(VL53_SNIPPET)
    by = {(raw, amb): (value, status) for raw, amb, value, status, _usable in out}
    usable = {amb: u for _raw, amb, _v, _s, u in out}
    assert by[(9, 10)] == (0x0709, 0)  # raw 9: range valid
    assert by[(8, 10)] == (0x0708, 3)  # raw 8: min range clipped, still a distance
    assert by[(4, 10)] == (wire.NO_READING, 2)  # signal fail in the dark
    # 200 * 8 = 1600 kcps ambient: strong light, "no target" covers only 0.73 m (datasheet)
    assert by[(4, 200)] == (wire.NO_READING, 2)
    assert usable == {10: 4000, 200: 730}
    assert by[(3, 10)] == (wire.SENSOR_STUCK, 5)
    assert by[(25, 10)] == (wire.NO_READING, 255)
