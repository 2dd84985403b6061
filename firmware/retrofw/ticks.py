"""Tick arithmetic for injected millisecond timestamps, identical on MicroPython and CPython.

The firmware passes `time.ticks_ms()` values, which wrap around; the simulator passes virtual
time. Pure modules never read a clock: they call `ticks_diff(new, old)` and `ticks_add(t, d)`.
"""

try:
    from time import ticks_add, ticks_diff  # type: ignore[attr-defined]
except ImportError:  # CPython: the same arithmetic as MicroPython's ports (period 2**30)
    _PERIOD = 1 << 30
    _HALF = _PERIOD >> 1

    def ticks_diff(new, old):
        """Signed difference new - old in ticks, correct across one wrap-around."""
        return ((new - old + _HALF) & (_PERIOD - 1)) - _HALF

    def ticks_add(ticks, delta):
        """ticks + delta, wrapped like ticks_ms()."""
        return (ticks + delta) & (_PERIOD - 1)
