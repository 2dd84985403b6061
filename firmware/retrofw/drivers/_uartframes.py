"""What the UART rangers (TF-Luna, UART ultrasonic) share: frame reading and result bookkeeping.

`FramedSensor` drains the UART in chunks into a buffer made once and feeds a byte parser (each
driver has its own, for its own frame format), then turns "valid frames came / only bad frames
came / nothing came" into one result: a new value (`_convert(now)`, the driver's own),
SENSOR_BAD_FRAME after `bad_after` bad frames in a row, SENSOR_TIMEOUT after `timeout_ms` without
a valid frame, else the last result again. `_frozen(a, b, now)` is the shared rule for
"the same raw value for more than `frozen_ms`". Nothing here allocates per call.
"""

from retrofw import wire
from retrofw.ticks import ticks_diff

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


NO_VALUE = const(-1000)  # no raw value yet / remembered (never equal to a real one)


class FramedSensor:
    """Base of the UART frame drivers (see the module docstring)."""

    def _attach(self, uart, parser, rx_chunk, max_chunks, timeout_ms, bad_after, frozen_ms,
                ticks_ms):
        """Keep the UART and parser, make the receive buffer, start the bookkeeping.

        rx_chunk: bytes per readinto; max_chunks: chunks one call reads at the most; ticks_ms:
        time source (None: time.ticks_ms).
        """
        if ticks_ms is None:
            import time

            ticks_ms = time.ticks_ms  # type: ignore[attr-defined]
        self._uart = uart
        self.parser = parser
        self._rx = bytearray(rx_chunk)
        self._max_chunks = max_chunks
        self.timeout_ms = timeout_ms
        self._bad_after = bad_after
        self.frozen_ms = frozen_ms
        self._ticks_ms = ticks_ms
        now = ticks_ms()
        self._last_ms = now  # time of the last valid frame (start: construction)
        self._bad_seen = 0
        self._bad_run = 0
        self._raw_a = NO_VALUE
        self._raw_b = NO_VALUE
        self._raw_since = now
        self._result = wire.NO_READING
        self.fresh = False

    def _drain(self):
        """Read what the UART holds (bounded) into the parser; return the valid frames."""
        uart = self._uart
        rx = self._rx
        size = len(rx)
        parser = self.parser
        good = 0
        for _ in range(self._max_chunks):
            n = uart.any()
            if not n:
                break
            n = uart.readinto(rx, n if n < size else size)
            if not n:
                break
            good += parser.feed(rx, n)
        return good

    def _update(self, good, now):
        """The result after a drain that completed `good` valid frames at time `now`."""
        parser = self.parser
        self.fresh = good > 0
        if good:
            self._last_ms = now
            self._bad_run = 0
            self._bad_seen = parser.bad
            self._result = self._convert(now)
            return self._result
        if parser.bad != self._bad_seen:
            self._bad_run += parser.bad - self._bad_seen
            self._bad_seen = parser.bad
            if self._bad_run >= self._bad_after:
                self._result = wire.SENSOR_BAD_FRAME
                return self._result
        if ticks_diff(now, self._last_ms) > self.timeout_ms:
            self._result = wire.SENSOR_TIMEOUT
        return self._result

    def _convert(self, now):
        raise NotImplementedError

    def _forget_raw(self):
        """A value that may legitimately repeat forever (nothing there): never called frozen."""
        self._raw_a = NO_VALUE

    def _frozen(self, a, b, now):
        """True when the raw pair (a, b) has not changed for more than `frozen_ms` (0: off)."""
        if a != self._raw_a or b != self._raw_b:
            self._raw_a = a
            self._raw_b = b
            self._raw_since = now
            return False
        return self.frozen_ms and ticks_diff(now, self._raw_since) > self.frozen_ms
