"""TF-Luna UART driver against the frame-level chip model."""

from functools import partial

from driver_rigs import MP_CLOCK, MP_UART
from driver_rigs import run as run_every

from retrofw import wire
from retrofw.drivers.tfluna import FrameParser, TFLuna
from retrorun.devtools.models.a02yyuw import ListeningUART
from retrorun.devtools.models.pwm import Clock
from retrorun.devtools.models.tfluna import TFLunaModel, frame


def rig(target=2000, **kw):
    clock = Clock()
    model = TFLunaModel(clock, target=target, noise=kw.pop("noise", True))
    sensor = TFLuna(model.uart, ticks_ms=clock.ticks_ms, **kw)
    return clock, model, sensor


run = partial(run_every, step_ms=50)  # 5 frames at the default 100 Hz


def test_frame_layout_and_checksum():
    f = frame(123, 4567, 25.0)
    assert f[:2] == b"\x59\x59" and len(f) == 9  # product manual: 9-byte frames
    assert f[2] | f[3] << 8 == 123 and f[4] | f[5] << 8 == 4567
    assert (f[6] | f[7] << 8) / 8 - 256 == 25.0
    assert sum(f[:8]) & 0xFF == f[8]


def test_reads_distance_in_mm_and_temperature():
    clock, _model, sensor = rig(target=2500)
    got = run(clock, sensor, 1)
    assert all(abs(g - 2500) <= 20 for g in got), got
    assert sensor.fresh and sensor.temperature_c() == 31


def test_far_dark_and_empty_are_no_reading_not_faults():
    clock, model, sensor = rig(target=None)
    assert set(run(clock, sensor, 2)) == {wire.NO_READING}  # weak frames never look frozen
    model.target = 7000
    model.reflectivity = 0.1  # dark target: Amp < 100
    assert set(run(clock, sensor, 0.5)) == {wire.NO_READING}


def test_fault_overexposed_is_blinded():
    clock, model, sensor = rig(target=1500)
    run(clock, sensor, 0.2)
    model.fault = "overexposed"
    assert run(clock, sensor, 0.2)[-1] == wire.SENSOR_BLINDED


def test_fault_bad_checksum_and_silence():
    clock, model, sensor = rig(target=1500)
    run(clock, sensor, 0.2)
    model.fault = "bad_checksum"
    assert run(clock, sensor, 0.1) == [wire.SENSOR_BAD_FRAME] * 2
    model.fault = "silent"
    got = run(clock, sensor, 0.5, step_ms=10)
    assert got[-1] == wire.SENSOR_TIMEOUT
    assert got.index(wire.SENSOR_TIMEOUT) * 10 <= 250


def test_fault_frozen_within_about_a_second_but_not_on_a_static_wall():
    clock, model, sensor = rig(target=3000)
    assert wire.SENSOR_FROZEN not in run(clock, sensor, 10)  # static wall, noisy Amp
    model.fault = "frozen"
    got = run(clock, sensor, 1.5)
    first = got.index(wire.SENSOR_FROZEN)
    assert 0.9 <= (first + 1) * 0.05 <= 1.2
    model.fault = None
    assert abs(run(clock, sensor, 0.1)[-1] - 3000) <= 20


def test_noise_free_model_shows_why_amp_is_part_of_the_rule():
    clock, _model, sensor = rig(target=3000, noise=False)
    assert run(clock, sensor, 3)[-1] == wire.SENSOR_FROZEN  # a perfect sensor would look frozen
    clock, _model, sensor = rig(target=3000, noise=False, frozen_ms=0)
    assert set(run(clock, sensor, 3)) == {3000}


def test_set_rate_command_changes_the_frame_rate():
    clock, model, sensor = rig(target=1000)
    sensor.set_rate(20)
    assert model.rate_hz == 20 and sensor.period_ms == 50
    before = model.frames_sent
    run(clock, sensor, 1)
    assert 19 <= model.frames_sent - before <= 21


PARSER_SNIPPET = """
from retrofw.drivers.tfluna import FrameParser
def fr(d, a, bad=0):
    b = bytearray([0x59, 0x59, d & 255, d >> 8, a & 255, a >> 8, 0x20, 0x09, 0])
    b[8] = (sum(b[:8]) & 255) ^ bad
    return bytes(b)
data = (b"\\x59\\x00" + fr(100, 5000) + fr(200, 65535)[:5] + fr(300, 99, 1) + fr(0, 12)
        + b"\\x59" + fr(0x5959, 0x5959) + fr(812, 150))
p = FrameParser()
out = []
start = 0
for end in (4, 13, 20, 33, len(data)):
    chunk = bytearray(data[start:end])
    out.append([p.feed(chunk, len(chunk)), p.dist, p.amp, p.temp, p.good, p.bad])
    start = end
result = out
"""


def test_frame_parser_identical_in_cpython_and_micropython(both):
    out = both.run(PARSER_SNIPPET)
    assert out[-1][1:3] == [812, 150] and out[-1][4] == 4


def test_parser_and_measure_allocate_nothing_in_micropython(mpy):
    got = mpy.eval(MP_CLOCK + MP_UART + """
from retrofw.drivers.tfluna import TFLuna, FrameParser
f = bytearray([0x59, 0x59, 0xFA, 0x00, 0x10, 0x27, 0x20, 0x09, 0])
f[8] = sum(f[:8]) & 255
buf = bytearray(bytes(f) * 10)
p = FrameParser()
def feed(b):
    p.feed(b, len(b))
no_alloc(feed, buf)
u = U(buf)
s = TFLuna(u, ticks_ms=ticks)
def m(_):
    t[0] += 10
    u.n = 0
    return s.measure()
no_alloc(m, 0)
result = [p.dist, p.amp, p.good, m(0), mem_delta(m, 0)]
""")
    assert got == [250, 10000, 10, 2500, 0]


def test_parser_counts_garbage_as_bad_frames_only_when_framed():
    p = FrameParser()
    noise = bytearray(b"\x00\x13\x7e" * 20)
    assert p.feed(noise, len(noise)) == 0 and p.bad == 0


def test_rate_can_be_set_at_construction():
    clock = Clock()
    model = TFLunaModel(clock, target=1000)
    sensor = TFLuna(model.uart, rate_hz=50, ticks_ms=clock.ticks_ms)
    assert model.rate_hz == 50 and sensor.period_ms == 20
    assert bytes(model.uart.tx) == bytes((0x5A, 0x06, 0x03, 50, 0, (0x5A + 6 + 3 + 50) & 0xFF))


def stalled_run(rxbuf_seen_by_driver):
    clock = Clock()
    # the obstacle appears at 0.5 s, in the middle of a 600 ms stall of the app
    model = TFLunaModel(clock, uart=ListeningUART(rxbuf=256),
                        target=lambda t: 4000 if t < 500_000 else 1000)
    sensor = TFLuna(model.uart, rxbuf=rxbuf_seen_by_driver, ticks_ms=clock.ticks_ms)
    clock.advance(100_000)
    sensor.measure()
    clock.advance(600_000)  # stall: the 256-byte buffer fills with frames from 0.1-0.38 s
    assert model.uart.dropped > 0
    first = (sensor.measure(), sensor.fresh)
    clock.advance(10_000)
    return first, sensor.measure(), sensor.overflows


def test_app_stall_overflowing_the_rx_buffer_never_reports_old_frames_as_fresh():
    (value, fresh), after, overflows = stalled_run(256)
    assert not fresh and overflows == 1  # old frames discarded, flagged
    assert abs(after - 1000) <= 20  # one frame period later: the truth
    # a driver that did not know its buffer size would report 0.3 s old data as fresh
    (value, fresh), after, overflows = stalled_run(100_000)
    assert fresh and abs(value - 4000) <= 20 and overflows == 0


def test_fault_power_cycle_rate_is_sent_again_after_the_silence():
    clock = Clock()
    model = TFLunaModel(clock, target=1000)
    sensor = TFLuna(model.uart, rate_hz=25, ticks_ms=clock.ticks_ms)
    run(clock, sensor, 0.3)
    model.fault = "silent"
    assert run(clock, sensor, 0.5)[-1] == wire.SENSOR_TIMEOUT
    model.fault = None
    model.power_cycle()  # powered up again at the factory rate
    run(clock, sensor, 0.2)
    assert model.rate_hz == 25
