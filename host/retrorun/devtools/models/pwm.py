"""Virtual time, GPIO pins and PWM outputs that behave like MicroPython's machine.Pin / machine.PWM.

Everything here runs on a `Clock` the caller owns: nothing reads the wall clock. Chip models
schedule their pin changes on the clock (`clock.schedule(t_us, fn)`); the clock fires them in time
order while it advances, so a driver that sleeps (`clock.sleep_us`) or a test that calls
`clock.advance(us)` sees edges and interrupts at the right virtual moments. `PWM` records every
duty change with its timestamp: that list is the haptic timeline the virtual board reports.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

TICKS_PERIOD = 1 << 30  # MicroPython's ticks_ms()/ticks_us() wrap at 2**30 on the ports


class Clock:
    """Virtual microsecond clock with an event queue.

    `now_us` only moves forward, through `advance`, `advance_to` or the sleep functions. The
    `ticks_*` and `sleep_*` methods have MicroPython's `time` signatures so they can be handed to
    drivers as their time source. Models only use `now_us`, `schedule`, `next_event_us` and
    `advance_to`, so the virtual board's `Hardware` (same methods) can stand in for a Clock.
    """

    def __init__(self, start_us: int = 0):
        self.now_us = start_us
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def at(self, t_us: int, fn: Callable[[], None]) -> None:
        """Run `fn()` when the clock reaches `t_us` (immediately ordered after earlier events)."""
        heapq.heappush(self._queue, (max(t_us, self.now_us), next(self._order), fn))

    def schedule(self, at_us: int, action: Callable[[], None]) -> None:
        """Same as `at`: the virtual board's `Hardware` has this name, so models take either."""
        self.at(at_us, action)

    def next_event_us(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def advance_to(self, t_us: int) -> None:
        """Move time to `t_us`, firing every event due on the way, in order."""
        while self._queue and self._queue[0][0] <= t_us:
            when, _, fn = heapq.heappop(self._queue)
            self.now_us = max(self.now_us, when)
            fn()
        self.now_us = max(self.now_us, t_us)

    def advance(self, us: int) -> None:
        self.advance_to(self.now_us + us)

    # MicroPython `time` look-alikes -------------------------------------------------------
    def ticks_us(self) -> int:
        return self.now_us % TICKS_PERIOD

    def ticks_ms(self) -> int:
        return (self.now_us // 1000) % TICKS_PERIOD

    def sleep_us(self, us: int) -> None:
        self.advance(us)

    def sleep_ms(self, ms: int) -> None:
        self.advance(ms * 1000)


class Pin:
    """machine.Pin look-alike: value(), on()/off(), irq(handler, trigger).

    An output pin written by the driver notifies its `listeners` (chip models) with
    (pin, level). An input pin is driven by a model through `drive(level)`, which fires the IRQ
    handler on the matching edge, like the ESP32 GPIO interrupt.
    """

    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id: int | str = 0, mode: int = -1, pull: int = -1, *, value: int = 0):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._level = 1 if value else 0
        self.listeners: list[Callable[[Pin, int], None]] = []
        self._handler: Callable[[Pin], None] | None = None
        self._trigger = 0
        # How an edge reaches the handler: None calls it at the edge; a callable gets the call
        # to make (a test defers it, as the esp32 port's ISR only schedules the handler)
        self.deliver: Callable[[Callable[[], None]], None] | None = None
        self.writes = 0

    def init(self, mode: int = -1, pull: int = -1, *, value: int | None = None) -> None:
        self.mode = mode
        self.pull = pull
        if value is not None:
            self.value(value)

    def value(self, level: int | None = None) -> int:
        if level is None:
            return self._level
        self.writes += 1
        level = 1 if level else 0
        changed = level != self._level
        self._level = level
        if changed:
            for listener in self.listeners:
                listener(self, level)
        return level

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    def __call__(self, level: int | None = None) -> int:
        return self.value(level)

    def irq(self, handler: Callable[[Pin], None] | None = None,
            trigger: int = IRQ_RISING | IRQ_FALLING, *, wake: int | None = None) -> None:
        """As the esp32 port's Pin.irq (machine_pin.c: handler, trigger, wake; no hard)."""
        self._handler = handler
        self._trigger = trigger if handler is not None else 0

    def drive(self, level: int) -> None:
        """A model sets the level seen on this (input) pin; edges fire the IRQ handler."""
        level = 1 if level else 0
        if level == self._level:
            return
        self._level = level
        edge = self.IRQ_RISING if level else self.IRQ_FALLING
        if self._handler is not None and self._trigger & edge:
            handler = self._handler
            if self.deliver is None:
                handler(self)
            else:
                self.deliver(lambda: handler(self))


class PWM:
    """machine.PWM look-alike recording (t_us, duty_u16) for every duty change."""

    def __init__(self, pin: Pin | int, freq: int = 1000, duty_u16: int = 0,
                 clock: Clock | None = None):
        self.pin = pin
        self._freq = freq
        self._duty = 0
        self.clock = clock or Clock()
        self.timeline: list[tuple[int, int]] = []
        self.deinited = False
        self.duty_u16(duty_u16)

    def freq(self, value: int | None = None) -> int:
        if value is not None:
            self._freq = value
        return self._freq

    def duty_u16(self, value: int | None = None) -> int:
        if value is None:
            return self._duty
        if not 0 <= value <= 65535:
            raise ValueError("duty_u16 must be 0..65535")
        if value != self._duty or not self.timeline:
            self.timeline.append((self.clock.now_us, value))
        self._duty = value
        return value

    def deinit(self) -> None:
        self.duty_u16(0)
        self.deinited = True

    def duty_at(self, t_us: int) -> int:
        """The duty that was set at time `t_us` (0 before the first change)."""
        duty = 0
        for when, value in self.timeline:
            if when > t_us:
                break
            duty = value
        return duty

    def on_time_us(self, start_us: int, end_us: int) -> int:
        """Microseconds in [start, end) with a non-zero duty (the motor was driven)."""
        total = 0
        points = [*self.timeline, (end_us, 0)]
        for (t0, duty), (t1, _) in itertools.pairwise(points):
            a, b = max(t0, start_us), min(t1, end_us)
            if duty and b > a:
                total += b - a
        return total


class ERMMotor:
    """A coin ERM motor driven by a `PWM`: what the runner would feel, from the duty timeline.

    First-order spin-up with time constant `tau_ms`; from rest the rotor only breaks free when
    the duty is at least `start_duty` (static friction), while turning it keeps going down to
    `keep_duty`. Speed is the fraction of full speed (0..1). Faults: "open" (wire broken) and
    "jammed" (rotor blocked): the motor never turns, and nothing on the PWM side changes.
    """

    FAULTS = (None, "open", "jammed")

    def __init__(self, pwm: PWM, start_duty: float = 0.45, keep_duty: float = 0.25,
                 tau_ms: float = 30.0):
        self.pwm = pwm
        self.start_duty = start_duty
        self.keep_duty = keep_duty
        self.tau_ms = tau_ms
        self.fault: str | None = None

    def speeds(self, start_us: int, end_us: int, step_us: int = 1000) -> list[float]:
        """Rotor speed every `step_us` in [start, end), simulated from the duty timeline."""
        out: list[float] = []
        speed = 0.0
        alpha = step_us / 1000 / self.tau_ms
        for t in range(start_us, end_us, step_us):
            duty = self.pwm.duty_at(t) / 65535
            if self.fault is not None:
                speed = 0.0
            elif (speed < 0.05 and duty < self.start_duty) or (speed >= 0.05 and duty < self.keep_duty):
                speed += (0.0 - speed) * alpha
            else:
                speed += (duty - speed) * alpha
            out.append(speed)
        return out

    def felt_ms(self, start_us: int, end_us: int, threshold: float = 0.2) -> int:
        """Milliseconds in [start, end) with the rotor above `threshold` of full speed."""
        return sum(1 for s in self.speeds(start_us, end_us) if s >= threshold)
