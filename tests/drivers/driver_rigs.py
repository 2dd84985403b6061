"""Helpers shared by the driver tests that run a sensor on a model's virtual clock."""


def run(clock, sensor, seconds, step_ms=None):
    """Every `step_ms` (default: the sensor's `period_ms`) for `seconds`: advance `clock`, then
    call `sensor.measure()`. Returns the readings."""
    step_ms = step_ms or sensor.period_ms
    out = []
    for _ in range(round(seconds * 1000 / step_ms)):
        clock.advance(step_ms * 1000)
        out.append(sensor.measure())
    return out


# Device-side pieces for code run in MicroPython (or both runtimes): prepend them to a snippet.
MP_CLOCK = """
t = [0]
def ticks():
    return t[0]
def sleep(ms):
    t[0] += ms
"""
"""A virtual clock: `t[0]` is the time in ms; `ticks` reads it, `sleep(ms)` advances it."""

MP_UART = """
class U:
    def __init__(self, data):
        self.data = data
        self.n = 0
    def any(self):
        return len(self.data) - self.n
    def readinto(self, b, n):
        for i in range(n):
            b[i] = self.data[self.n + i]
        self.n += n
        return n
    def write(self, b):
        self.n = 0
        return len(b)
"""
"""`U(data)`: a UART that has `data` waiting; a write (a trigger) or `u.n = 0` replays it."""
