"""The chip models run on any clock with now_us/schedule/advance_to (the virtual board's
Hardware) and talk through a plain UARTPort via the poll()/received() hooks."""

import heapq

from retrofw import wire
from retrofw.drivers.tfluna import TFLuna
from retrofw.drivers.uart_ultrasonic import UARTUltrasonic
from retrorun.devtools.models.a02yyuw import A02YYUWModel
from retrorun.devtools.models.bus import UARTPort
from retrorun.devtools.models.tfluna import TFLunaModel


class BoardClock:
    """Only the methods the virtual board's Hardware has (no `at`, no ticks helpers)."""

    def __init__(self):
        self.now_us = 0
        self._events = []
        self._seq = 0

    def schedule(self, at_us, action):
        self._seq += 1
        heapq.heappush(self._events, (at_us, self._seq, action))

    def next_event_us(self):
        return self._events[0][0] if self._events else None

    def advance_to(self, t_us):
        while self._events and self._events[0][0] <= t_us:
            at, _, action = heapq.heappop(self._events)
            self.now_us = max(self.now_us, at)
            action()
        self.now_us = max(self.now_us, t_us)


class BoardUART(UARTPort):
    """A plain port whose writes the board forwards to the model's received() hook."""

    def __init__(self, clock, model_ref):
        super().__init__()
        self.clock = clock
        self.model_ref = model_ref

    def write(self, data):
        n = super().write(data)
        self.model_ref[0].received(self.clock, bytes(data))
        return n


def test_tfluna_model_on_a_board_clock_and_plain_port():
    clock = BoardClock()
    ref = [None]
    port = BoardUART(clock, ref)
    model = ref[0] = TFLunaModel(clock, uart=port, target=1800)
    sensor = TFLuna(port, ticks_ms=lambda: clock.now_us // 1000)
    sensor.set_rate(50)
    assert model.rate_hz == 50
    out = []
    for _ in range(20):
        clock.advance_to(clock.now_us + 20_000)
        model.poll(clock, port)
        out.append(sensor.measure())
    assert all(abs(v - 1800) <= 20 for v in out[1:]), out


def test_triggered_ultrasonic_through_received_hook():
    clock = BoardClock()
    ref = [None]
    port = BoardUART(clock, ref)
    ref[0] = A02YYUWModel(clock, uart=port, mode="trigger", target=900)
    sensor = UARTUltrasonic(port, mode="trigger", ticks_ms=lambda: clock.now_us // 1000)
    out = []
    for _ in range(5):
        clock.advance_to(clock.now_us + 100_000)
        out.append(sensor.measure())
    assert out == [wire.NO_READING, 900, 900, 900, 900]
