"""UART ultrasonic driver (A02YYUW / JSN-SR04T / AJ-SR04M) against the frame-level chip model."""

from driver_rigs import MP_CLOCK, MP_UART, run

from retrofw import wire
from retrofw.drivers.uart_ultrasonic import FrameParser, UARTUltrasonic
from retrorun.devtools.models.a02yyuw import A02YYUWModel, frame
from retrorun.devtools.models.pwm import Clock

JSN_TRIGGER = 0x55  # JSN-SR04T v3 manual, mode 3: "0x55" on RX starts a measurement
AJ_TRIGGER = 0x01  # AJ-SR04M manual, serial-trigger mode: "0x01"


def rig(mode="auto", target=1000, **kw):
    clock = Clock()
    model = A02YYUWModel(clock, mode=mode, target=target,
                         trigger_byte=kw.pop("trigger_byte", JSN_TRIGGER))
    sensor = UARTUltrasonic(model.uart, mode=mode, ticks_ms=clock.ticks_ms,
                            trigger_byte=model.trigger_byte, **kw)
    return clock, model, sensor


def test_frame_checksum_matches_the_datasheet_example():
    # DFRobot SEN0311 wiki example: FF 07 A1 A7 is 1953 mm
    assert frame(1953) == bytes((0xFF, 0x07, 0xA1, 0xA7))


def test_auto_mode_reads_the_target():
    clock, _model, sensor = rig(target=1953)
    assert run(clock, sensor, 1) == [1953] * 10
    assert sensor.fresh


def test_blind_zone_and_no_echo():
    clock, model, sensor = rig(target=12)
    assert run(clock, sensor, 0.3)[-1] == 30
    model.target = None
    assert run(clock, sensor, 0.3)[-1] == wire.NO_READING
    model.target = 4700
    assert run(clock, sensor, 0.3)[-1] == wire.NO_READING


def test_trigger_mode_is_pipelined_and_sends_the_trigger_byte():
    clock, model, sensor = rig(mode="trigger", target=2500, trigger_byte=AJ_TRIGGER)
    got = run(clock, sensor, 1)
    assert got[0] == wire.NO_READING  # the first call only triggers
    assert got[1:] == [2500] * 9
    assert set(model.uart.tx) == {AJ_TRIGGER}
    assert model.frames_sent == 9


def test_fault_bad_checksum():
    clock, model, sensor = rig(target=800)
    assert run(clock, sensor, 0.5)[-1] == 800
    model.fault = "bad_checksum"
    got = run(clock, sensor, 0.5)
    assert got[0] == 800  # one bad frame is tolerated (repeats the last result)
    assert got[1:] == [wire.SENSOR_BAD_FRAME] * 4
    model.fault = None
    assert run(clock, sensor, 0.2)[-1] == 800


def test_fault_silence_is_timeout_within_half_a_second():
    clock, model, sensor = rig(target=800)
    run(clock, sensor, 0.5)
    model.fault = "silent"
    got = run(clock, sensor, 1, step_ms=50)
    first = got.index(wire.SENSOR_TIMEOUT)
    assert all(g == 800 for g in got[:first])
    assert (first + 1) * 50 <= 500 and set(got[first:]) == {wire.SENSOR_TIMEOUT}


def test_fault_garbage_is_timeout_not_a_distance():
    clock, model, sensor = rig(target=800)
    run(clock, sensor, 0.3)
    model.fault = "garbage"
    assert run(clock, sensor, 1)[-1] in (wire.SENSOR_TIMEOUT, wire.SENSOR_BAD_FRAME)


def test_fault_frozen_only_when_enabled():
    clock, model, sensor = rig(target=1200, frozen_ms=2000)
    model.noise_mm = 3
    run(clock, sensor, 1)
    model.fault = "frozen"
    got = run(clock, sensor, 3)
    assert wire.SENSOR_FROZEN in got and got[-1] == wire.SENSOR_FROZEN
    # default (frozen_ms=0): a static wall repeating the same value is a distance forever
    clock, model, sensor = rig(target=1200)
    assert set(run(clock, sensor, 10)) == {1200}


def test_parser_resyncs_after_noise_and_split_frames():
    p = FrameParser()
    stream = b"\x13\xff\x00" + frame(1000) + frame(2000)[:2]
    buf = bytearray(stream)
    assert p.feed(buf, len(buf)) == 1 and p.value == 1000
    rest = bytearray(frame(2000)[2:] + frame(3000, corrupt=True) + frame(4000))
    assert p.feed(rest, len(rest)) == 2 and p.value == 4000
    assert p.bad == 2  # "FF 00 FF 03" and the corrupted frame


PARSER_SNIPPET = """
from retrofw.drivers.uart_ultrasonic import FrameParser
def fr(mm, bad=0):
    h = (mm >> 8) & 255
    l = mm & 255
    return bytes([255, h, l, ((255 + h + l) & 255) ^ bad])
data = bytearray(b"\\x00\\xff\\x10" + fr(4500) + fr(1234, 7) + fr(255) + fr(65535 - 256)
                 + b"\\xff\\xff" + fr(30) + fr(7))
p = FrameParser()
out = []
start = 0
for end in (3, 11, 17, len(data)):
    chunk = bytearray(data[start:end])
    out.append([p.feed(chunk, len(chunk)), p.value, p.good, p.bad])
    start = end
result = out
"""


def test_frame_parser_identical_in_cpython_and_micropython(both):
    out = both.run(PARSER_SNIPPET)
    assert out[-1][1] == 7 and out[-1][2] >= 4 and out[-1][3] >= 1


def test_frame_parsing_and_measure_allocate_nothing_in_micropython(mpy):
    got = mpy.eval(MP_CLOCK + MP_UART + """
from retrofw.drivers.uart_ultrasonic import FrameParser, UARTUltrasonic
from retrofw import wire
buf = bytearray(b"\\xff\\x07\\xa1\\xa7" * 8)
p = FrameParser()
def feed(b):
    p.feed(b, len(b))
no_alloc(feed, buf)
u = U(bytearray(b"\\xff\\x03\\xe8\\xea" * 4))
s = UARTUltrasonic(u, mode="trigger", ticks_ms=ticks)
def m(_):
    t[0] += 100
    return s.measure()
no_alloc(m, 0)
no_alloc(m, 0)
result = [p.value, p.good, s.measure(), mem_delta(m, 0)]
""")
    assert got[0] == 1953 and got[1] == 8
    assert got[2] == 1000 and got[3] == 0
