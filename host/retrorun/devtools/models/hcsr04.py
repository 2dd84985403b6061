"""Model of a trigger/echo ultrasonic module (HC-SR04, JSN-SR04T mode 1) on virtual time.

From the datasheets: a TRIG pulse of at least 10 us starts a ping when its falling edge comes;
the module sends 8 cycles of 40 kHz (200 us) and raises ECHO about 450 us after the trigger;
ECHO stays high for the round-trip time of the sound (58 us/cm, or from the speed of sound
331.3 + 0.606 * T m/s), or for the no-echo time (38 ms HC-SR04, 60 ms JSN-SR04T) when nothing
answers within range. Triggers that arrive while a ping is running are ignored. Objects inside
the blind zone answer as if at its edge (the transducer is still ringing).

Faults (`fault`): "stuck_high" (ECHO held high), "stuck_low" (ECHO never rises: broken wire,
no 5 V), "unplugged" (same as stuck_low, the pin floats low through the divider).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from retrorun.devtools.models.pwm import Clock, Pin

TRIG_MIN_US = 10  # shortest TRIG pulse that starts a ping (both datasheets)
NO_ECHO_US_HCSR04 = 38_000  # HC-SR04: ECHO falls after 38 ms when nothing answers
NO_ECHO_US_JSN = 60_000  # JSN-SR04T
SOUND_MM_S_AT_0C = 331_300  # speed of sound in dry air: 331.3 m/s + 0.606 m/s per degree C
SOUND_MM_S_PER_C = 606
VARIANTS = {
    # name: (min_mm, max_mm, no-echo pulse us)
    "hcsr04": (20, 4000, NO_ECHO_US_HCSR04),
    "jsn-sr04t": (250, 4500, NO_ECHO_US_JSN),
}
ECHO_DELAY_US = 450
FAULTS = (None, "stuck_high", "stuck_low", "unplugged")

Target = int | None | Callable[[int], "int | None"]


class EventClock(Protocol):
    """Virtual time with an event queue: models.pwm.Clock, or the virtual board's Hardware."""

    @property
    def now_us(self) -> int: ...

    def next_event_us(self) -> int | None: ...

    def advance_to(self, t_us: int) -> None: ...


def pulse_width_us(clock: EventClock, read: Callable[[], int], level: int,
                   timeout_us: int) -> int:
    """machine.time_pulse_us on virtual time, for a pin whose level `read()` returns.

    Waits (up to `timeout_us`) for `level`, then times it (up to `timeout_us`); returns -2 / -1
    on those timeouts. The clock advances from event to event as the busy-wait would.
    """
    deadline = clock.now_us + timeout_us
    while read() != level:
        nxt = clock.next_event_us()
        if nxt is None or nxt > deadline:
            clock.advance_to(deadline)
            return -2
        clock.advance_to(nxt)
    start = clock.now_us
    deadline = start + timeout_us
    while read() == level:
        nxt = clock.next_event_us()
        if nxt is None or nxt > deadline:
            clock.advance_to(deadline)
            return -1
        clock.advance_to(nxt)
    return clock.now_us - start


def speed_of_sound_mm_s(temperature_c: float) -> float:
    return SOUND_MM_S_AT_0C + SOUND_MM_S_PER_C * temperature_c


def echo_width_us(distance_mm: float, temperature_c: float = 20.0) -> int:
    """Round-trip time of sound to an object at `distance_mm` and back."""
    return round(distance_mm * 2_000_000 / speed_of_sound_mm_s(temperature_c))


class HCSR04Model:
    """One module wired to `trig` (driven by the driver) and `echo` (driven by the model).

    `target` is the distance in mm of the object the beam sees, None for nothing, or a callable
    `target(now_us)` giving it at the moment of the ping.
    """

    def __init__(self, clock: Clock, trig: Pin, echo: Pin, variant: str = "hcsr04",
                 target: Target = None, temperature_c: float = 20.0, jitter_us: int = 0,
                 seed: int = 1):
        self.clock = clock
        self.trig = trig
        self.echo = echo
        self.min_mm, self.max_mm, self.no_echo_us = VARIANTS[variant]
        self.target = target
        self.temperature_c = temperature_c
        self.jitter_us = jitter_us
        self._rng = random.Random(seed)
        self._fault: str | None = None
        self._rise_us = 0
        self._busy_until = -1
        self.pings = 0
        trig.listeners.append(self._on_trig)

    # -- world -------------------------------------------------------------------------------
    def distance_now(self) -> int | None:
        target = self.target
        return target(self.clock.now_us) if callable(target) else target

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, fault: str | None) -> None:
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        self._fault = fault
        self.echo.drive(1 if fault == "stuck_high" else 0)

    # -- chip ----------------------------------------------------------------------------------
    def _on_trig(self, pin: Pin, level: int) -> None:
        now = self.clock.now_us
        if level:
            self._rise_us = now
            return
        if now - self._rise_us < TRIG_MIN_US or self._fault is not None:
            return
        if now < self._busy_until:
            return
        self.pings += 1
        distance = self.distance_now()
        if distance is None or distance > self.max_mm:
            width = self.no_echo_us
        else:
            width = echo_width_us(max(distance, self.min_mm), self.temperature_c)
            if self.jitter_us:
                width += self._rng.randint(-self.jitter_us, self.jitter_us)
        start = now + ECHO_DELAY_US
        self._busy_until = start + width
        self.clock.schedule(start, lambda: self._drive(1))
        self.clock.schedule(start + width, lambda: self._drive(0))

    def _drive(self, level: int) -> None:
        if self._fault is None:
            self.echo.drive(level)

    # -- machine.time_pulse_us on virtual time ----------------------------------------------
    def time_pulse_us(self, pin: Pin, level: int, timeout_us: int = 1_000_000) -> int:
        """Like machine.time_pulse_us: wait (up to timeout) for `level`, then time it (up to
        timeout). Returns -2 / -1 on those timeouts. The clock advances as the busy-wait would."""
        return pulse_width_us(self.clock, pin.value, level, timeout_us)
