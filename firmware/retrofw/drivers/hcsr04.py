"""Trigger/echo ultrasonic ranger: HC-SR04 and JSN-SR04T (mode 1, R27 open).

Wiring: TRIG to any output GPIO; ECHO through a 1k/2k divider (the modules run at 5 V) to an
input GPIO. A >= 10 us TRIG pulse starts a burst; ECHO stays high for the round trip of the
sound (58 us per cm at 20 C), or, with no echo, about 38 ms (HC-SR04) / 60 ms (JSN-SR04T).

`measure()` returns one int (see retrofw.wire): millimetres, NO_READING (nothing within
`max_mm`), or SENSOR_STUCK (the echo line never rises after a trigger, or is already high
before it, `stuck_after` times in a row). It never raises.

Two ways to time the echo:
- blocking (default): `machine.time_pulse_us` busy-waits. Its timeout is the round-trip time of
  `max_mm` plus a margin, so one call blocks at most about 2 x that (it waits once for the rise
  and once for the pulse): 24 ms each at 4 m. Call it every `period_ms`.
- `irq=True`: a pin interrupt on both edges writes `ticks_us()` into a preallocated array, and
  `measure()` reads the echo of the *previous* trigger and fires the next one, so it never
  waits; the result is one period old, the first call returns NO_READING. The esp32 port has
  no hard pin IRQs (machine_pin.c: handler, trigger, wake; the ISR only schedules the handler),
  so each edge is timed when its handler runs: late by the time the Python VM takes to get
  there (an I2C transfer, a flash write or a garbage collection in progress: 1 ms = 17 cm).
  The error is the difference of the two delays; docs/drivers.md gives what `retrorun bench
  echo` measures. A handler that finds ECHO no longer at its edge's level ran after the next
  edge: that reading is dropped (SENSOR_BAD_FRAME), never turned into a wrong distance.

Frozen values cannot happen here: every reading is a fresh echo timed by the ESP32 itself, so a
dead module shows up as a stuck echo line instead (docs/drivers.md).
"""

from array import array

from retrofw import wire
from retrofw.ticks import ticks_diff

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Datasheet facts (HC-SR04, JSN-SR04T v3): a TRIG pulse of at least 10 us starts a burst of
# 8 x 40 kHz; ECHO stays high for the round trip, or, with no echo, for about 38 ms (HC-SR04) /
# 60 ms (JSN-SR04T). Speed of sound in air: 331.3 m/s + 0.606 m/s per degree C.
_TRIG_US = const(10)
_NO_ECHO_US_HCSR04 = const(38000)
_NO_ECHO_US_JSN = const(60000)
_SOUND_MM_S_0C = const(331300)
_SOUND_MM_S_PER_C = const(606)
_VARIANTS = const((
    # (name, min_mm, max_mm, period_ms, no-echo pulse us)
    ("hcsr04", 20, 4000, 60, _NO_ECHO_US_HCSR04),
    ("jsn-sr04t", 250, 4500, 100, _NO_ECHO_US_JSN),
))
_MARGIN_US = const(600)  # the echo rises ~250-500 us after TRIG falls (burst + processing)
_RISE = const(0)
_FALL = const(1)
_EDGES = const(2)
_LATE = const(3)  # edge count meaning: a handler ran after the next edge (its time is lost)


class HCSR04:
    """Trigger/echo ultrasonic distance sensor.

    trig, echo: machine.Pin objects (output, input). variant: "hcsr04" or "jsn-sr04t" (sets the
    blind zone `min_mm`, `max_mm` and `period_ms`; each may be overridden). temperature_c: air
    temperature for the speed of sound (int degrees C, -20..50). Distances below `min_mm` are
    reported as `min_mm` (something is at least that close). trig_us: TRIG pulse width (the
    datasheets ask for >= 10 us; lengthen it for a clone that does not answer).
    """

    def __init__(self, trig, echo, variant="hcsr04", min_mm=None, max_mm=None, period_ms=None,
                 temperature_c=20, irq=False, stuck_after=3, trig_us=_TRIG_US,
                 time_pulse_us=None, ticks_us=None, sleep_us=None):
        row = None
        for r in _VARIANTS:
            if r[0] == variant:
                row = r
        if row is None:
            raise ValueError("variant must be 'hcsr04' or 'jsn-sr04t'")
        if not -20 <= temperature_c <= 50:
            raise ValueError("temperature_c must be -20..50")
        _name, dmin, dmax, dperiod, no_echo = row
        self.min_mm = dmin if min_mm is None else min_mm
        self.max_mm = dmax if max_mm is None else max_mm
        # Half the beam (retrofw.alerts: how long a lost object is held): 15 degree measuring
        # angle (HC-SR04 datasheet); the JSN-SR04T's is wider, and the narrower beam holds longer.
        self.beam_half_deg = 7.5
        self.period_ms = dperiod if period_ms is None else period_ms
        if not 0 < self.max_mm <= 6000:
            raise ValueError("max_mm must be 1..6000")
        speed = _SOUND_MM_S_0C + _SOUND_MM_S_PER_C * temperature_c  # mm/s
        # mm = us * speed / 2e6, as a 16.16 fixed-point factor so the product stays a small int
        self._k = (speed * 65536) // 2000000
        self.timeout_us = (self.max_mm * 2000000) // speed + _MARGIN_US
        self.no_echo_us = no_echo
        self._trig = trig
        self._echo = echo
        self._stuck_after = stuck_after
        self.trig_us = trig_us
        self._high = 0  # consecutive triggers that found ECHO already high
        self._silent = 0  # consecutive triggers with no rising edge
        if time_pulse_us is None:
            import machine

            time_pulse_us = machine.time_pulse_us
        if ticks_us is None or sleep_us is None:
            import time

            ticks_us = ticks_us or time.ticks_us  # type: ignore[attr-defined]
            sleep_us = sleep_us or time.sleep_us  # type: ignore[attr-defined]
        self._pulse = time_pulse_us
        self._ticks_us = ticks_us
        self._sleep_us = sleep_us
        self._irq = irq
        self._armed = False
        self._t_trig = 0
        self._edges = array("i", (0, 0, 0))  # rise, fall, edge count: written by the IRQ
        trig.value(0)
        if irq:
            self._handler = self._on_edge
            echo.irq(self._handler, 3)  # Pin.IRQ_RISING | Pin.IRQ_FALLING

    def _on_edge(self, pin):
        """IRQ handler: record the first two edges after a trigger. Allocates nothing.

        The rise's handler must still see ECHO high and the fall's see it low; otherwise it ran
        after the following edge and its time says nothing about its own edge."""
        edges = self._edges
        n = edges[_EDGES]
        if n < 2:
            edges[n] = self._ticks_us()  # type: ignore  # stubs type ticks as _TicksUs
            edges[_EDGES] = n + 1 if pin.value() == (n == _RISE) else _LATE

    def _to_mm(self, width_us):
        mm = (width_us * self._k) >> 16
        if mm > self.max_mm:
            return wire.NO_READING
        return mm if mm >= self.min_mm else self.min_mm

    def _fire(self):
        trig = self._trig
        trig.value(1)
        self._sleep_us(self.trig_us)
        trig.value(0)

    def _no_rise(self):
        self._silent += 1
        return wire.SENSOR_STUCK if self._silent >= self._stuck_after else wire.NO_READING

    def _check_idle_low(self):
        """ECHO must be low before a trigger; high means stuck (or a ping still running)."""
        if self._echo.value():
            self._high += 1
            return wire.SENSOR_STUCK if self._high >= self._stuck_after else wire.NO_READING
        self._high = 0
        return 0

    def measure(self):
        """One reading: mm, NO_READING or SENSOR_STUCK. Blocking unless irq=True."""
        if self._irq:
            return self._measure_irq()
        busy = self._check_idle_low()
        if busy:
            return busy
        self._fire()
        width = self._pulse(self._echo, 1, self.timeout_us)
        if width == -2:  # never rose within the timeout
            return self._no_rise()
        self._silent = 0
        if width < 0:  # still high at the timeout: nothing within max_mm
            return wire.NO_READING
        return self._to_mm(width)

    def _measure_irq(self):
        result = wire.NO_READING
        edges = self._edges
        if self._armed:
            n = edges[_EDGES]
            if n == 0:
                result = self._no_rise()
            else:
                self._silent = 0
                if n == 2:
                    result = self._to_mm(ticks_diff(edges[_FALL], edges[_RISE]))
                elif n == _LATE:
                    result = wire.SENSOR_BAD_FRAME
        busy = self._check_idle_low()
        if busy:
            self._armed = False
            return busy if busy == wire.SENSOR_STUCK else result
        edges[_EDGES] = 0
        self._fire()
        self._armed = True
        return result

