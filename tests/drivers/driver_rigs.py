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
