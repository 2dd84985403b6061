"""Going to deep sleep (a long press, or a critical battery): imported only then.

The esp32 port wakes from deep sleep only from a source configured before (esp32.wake_on_ext0 /
ext1 on an RTC GPIO, a timer); with none the board sleeps until reset or power-off. So the button
becomes the wake source, at its pressed level, once it has been released (a pin already at the
wake level would wake the chip at once). boardcheck requires the button on an RTC GPIO.
"""

import time

import esp32
from machine import deepsleep

try:
    from micropython import const
except ImportError:  # CPython (tooling only)

    def const(x):
        return x


_CUE_MS = const(300)  # one long buzz: going to sleep
_CUE_STRENGTH = const(160)
_RELEASE_WAIT_MS = const(10000)
_POLL_MS = const(20)


def deep_sleep(app, now):
    """Close the session, give the cue, wait for the button's release, sleep."""
    app.stop_session(now)
    app.running = False
    app.motor.set(_CUE_STRENGTH)
    time.sleep_ms(_CUE_MS)
    app.motor.off()
    t0 = time.ticks_ms()
    while app.button.value() == app.button_active and \
            time.ticks_diff(time.ticks_ms(), t0) < _RELEASE_WAIT_MS:
        time.sleep_ms(_POLL_MS)
    esp32.wake_on_ext0(app.button, app.button_active)
    deepsleep()
