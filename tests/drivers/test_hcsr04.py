"""HC-SR04 / JSN-SR04T trigger/echo driver against the echo-timing chip model."""

import pytest

from retrofw import wire
from retrofw.drivers.hcsr04 import HCSR04
from retrorun.devtools.models.hcsr04 import HCSR04Model, echo_width_us
from retrorun.devtools.models.pwm import Clock, Pin


def rig(variant="hcsr04", target=None, irq=False, **kw):
    clock = Clock()
    trig, echo = Pin(25, Pin.OUT), Pin(26, Pin.IN)
    model = HCSR04Model(clock, trig, echo, variant=variant, target=target)
    sensor = HCSR04(trig, echo, variant=variant, irq=irq, time_pulse_us=model.time_pulse_us,
                    ticks_us=clock.ticks_us, sleep_us=clock.sleep_us, **kw)
    return clock, model, sensor


def every_period(clock, sensor, n):
    out = []
    for _ in range(n):
        start = clock.now_us
        out.append(sensor.measure())
        clock.advance_to(start + sensor.period_ms * 1000)
    return out


def test_echo_timing_is_58_us_per_cm_at_20c():
    # HC-SR04 datasheet: distance (cm) = echo pulse width (us) / 58
    assert abs(echo_width_us(1000) - 100 * 58) <= 30  # 5.8 ms for 1 m


@pytest.mark.parametrize("distance", [35, 250, 1000, 2345, 3900])
def test_blocking_reads_distance_within_1_percent(distance):
    _clock, model, sensor = rig(target=distance)
    got = sensor.measure()
    assert abs(got - distance) <= max(2, distance // 100), got
    assert model.pings == 1


def test_temperature_compensation_changes_the_reading():
    clock = Clock()
    trig, echo = Pin(1, Pin.OUT), Pin(2, Pin.IN)
    model = HCSR04Model(clock, trig, echo, target=3000, temperature_c=-10)
    cold_naive = HCSR04(trig, echo, time_pulse_us=model.time_pulse_us, ticks_us=clock.ticks_us,
                        sleep_us=clock.sleep_us)
    assert cold_naive.measure() > 3080  # assumes 20 C: sound is slower in the cold -> too far
    clock.advance(100_000)
    cold = HCSR04(trig, echo, temperature_c=-10, time_pulse_us=model.time_pulse_us,
                  ticks_us=clock.ticks_us, sleep_us=clock.sleep_us)
    assert abs(cold.measure() - 3000) <= 30


def test_nothing_in_range_is_no_reading_and_blocking_time_is_bounded():
    clock, _model, sensor = rig(target=None, max_mm=3000)
    start = clock.now_us
    assert sensor.measure() == wire.NO_READING
    blocked = clock.now_us - start
    assert blocked <= 2 * sensor.timeout_us + 20
    assert sensor.timeout_us < 3000 * 2 * 1_000_000 // 343_000 + 1000  # about 18.1 ms at 3 m
    # the 38 ms no-echo pulse is over by the next period: no false stuck report
    assert every_period(clock, sensor, 5)[1:] == [wire.NO_READING] * 4


def test_object_beyond_max_range_is_no_reading():
    _clock, _model, sensor = rig(target=3500, max_mm=3000)
    assert sensor.measure() == wire.NO_READING


def test_blind_zone_reports_the_blind_zone_edge():
    _clock, _model, sensor = rig(variant="jsn-sr04t", target=120)
    assert sensor.measure() == 250


def test_fault_stuck_high_detected_after_three_periods():
    clock, model, sensor = rig(target=1500)
    assert all(abs(g - 1500) <= 15 for g in every_period(clock, sensor, 2))
    model.fault = "stuck_high"
    got = every_period(clock, sensor, 4)
    assert got[:2] == [wire.NO_READING, wire.NO_READING]
    assert got[2:] == [wire.SENSOR_STUCK, wire.SENSOR_STUCK]
    model.fault = None
    assert abs(every_period(clock, sensor, 1)[0] - 1500) <= 15  # recovers


@pytest.mark.parametrize("fault", ["stuck_low", "unplugged"])
def test_fault_echo_never_rises_is_stuck(fault):
    clock, model, sensor = rig(target=800)
    model.fault = fault
    got = every_period(clock, sensor, 4)
    assert got == [wire.NO_READING, wire.NO_READING, wire.SENSOR_STUCK, wire.SENSOR_STUCK]


def test_irq_mode_never_blocks_and_reads_previous_ping():
    clock, model, sensor = rig(target=2000, irq=True)
    before = clock.now_us
    first = sensor.measure()
    assert first == wire.NO_READING  # nothing armed yet
    assert clock.now_us - before <= 20  # only the 10 us trigger pulse
    got = every_period(clock, sensor, 6)
    assert all(abs(g - 2000) <= 20 for g in got[1:]), got
    model.target = 1000
    got = every_period(clock, sensor, 3)
    assert abs(got[-1] - 1000) <= 10


def _scheduled(clock, echo, latency_us):
    """Deliver ECHO's handler calls as the esp32 port does: scheduled, `latency_us(edge)` after
    the edge (the VM busy in an I2C transfer or a collection)."""
    edges = []

    def deliver(call):
        edges.append(clock.now_us)
        clock.schedule(clock.now_us + latency_us(len(edges)), call)

    echo.deliver = deliver


def test_irq_handler_late_by_d_us_reads_the_distance_the_delays_differ_by():
    """Time stamps come from the handlers: a fall handled 300 us later than the rise reads
    300 us x 171.7 mm/ms (sound at 20 C, there and back) = 52 mm too far."""
    clock, model, sensor = rig(target=1500, irq=True)
    _scheduled(clock, model.echo, lambda n: 50 if n % 2 else 350)
    got = every_period(clock, sensor, 5)
    assert all(abs(g - (1500 + 52)) <= 3 for g in got[1:]), got


def test_irq_handler_run_after_the_next_edge_drops_the_reading():
    """A rise handled only after the fall (a 3 ms transfer over a 1.2 ms echo) cannot time it:
    no reading (a bad frame), never a distance near zero, which would be a false STOP."""
    clock, model, sensor = rig(target=200, irq=True)
    _scheduled(clock, model.echo, lambda n: 3000 if n % 2 else 1800)
    got = every_period(clock, sensor, 5)
    assert got[1:] == [wire.SENSOR_BAD_FRAME] * 4, got


def test_a_trigger_shorter_than_10_us_starts_no_ping():
    """Datasheets: TRIG >= 10 us. The model ignores a shorter one; the driver sees no echo."""
    clock, model, sensor = rig(target=1000, trig_us=8)
    assert every_period(clock, sensor, 3) == [wire.NO_READING, wire.NO_READING,
                                              wire.SENSOR_STUCK]
    assert model.pings == 0
    clock, model, sensor = rig(target=1000, trig_us=20)
    assert abs(sensor.measure() - 1000) <= 10 and model.pings == 1


def test_irq_mode_detects_stuck_low_and_high():
    clock, model, sensor = rig(target=900, irq=True)
    every_period(clock, sensor, 3)
    model.fault = "stuck_low"
    assert every_period(clock, sensor, 4)[-1] == wire.SENSOR_STUCK
    model.fault = "stuck_high"
    assert every_period(clock, sensor, 4)[-1] == wire.SENSOR_STUCK


def test_irq_mode_nothing_in_range():
    clock, _model, sensor = rig(target=None, irq=True)
    assert every_period(clock, sensor, 6) == [wire.NO_READING] * 6


def test_irq_path_allocates_nothing_in_micropython(mpy):
    result = mpy.eval("""
from retrofw.drivers.hcsr04 import HCSR04
class P:
    def __init__(self):
        self.v = 0
        self.h = None
    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v
    def irq(self, handler, trigger):
        self.h = handler
t = [1000]
def ticks():
    return t[0]
def sleep(us):
    t[0] += us
trig = P()
echo = P()
s = HCSR04(trig, echo, irq=True, time_pulse_us=sleep, ticks_us=ticks, sleep_us=sleep)
h = echo.h
def ping(width):
    t[0] += 450
    echo.v = 1
    h(echo)
    t[0] += width
    echo.v = 0
    h(echo)
    t[0] += 60000
def m(_):
    return s.measure()
out = [s.measure()]
ping(5824)
no_alloc(m, 0)
no_alloc(ping, 11648)
no_alloc(h, echo)
out.append(s.measure())
out.append(s.measure())
result = out
""")
    assert result[0] == wire.NO_READING
    assert abs(result[1] - 2000) <= 20  # the second ping: 11.6 ms of echo
    assert result[2] == wire.NO_READING  # re-armed but no edges yet: counted, not yet stuck


def test_a_too_short_trigger_pulse_is_ignored_by_the_module():
    clock, model, sensor = rig(target=1000, trig_us=5)
    assert every_period(clock, sensor, 3)[-1] == wire.SENSOR_STUCK
    assert model.pings == 0
