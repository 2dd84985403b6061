"""The motor's output, and what the runner sees when the motor cannot buzz.

`MotorOut.drive(now_ms, strength)` is the haptics task's I/O: it sends a new strength to the
haptic driver (`set()` / `off()`), and again at every tick while the driver's last write failed
(a DRV2605L that stopped answering: NACK, SDA held low, a power glitch; its driver sets the chip
up again when it answers). Once a second it reads the driver's own fault status (`check()`:
DRV2605L over-temperature or over-current shuts its output; -1 when it does not answer). While
the motor cannot buzz the status LED plays the FAULT rhythm (as at a boot without a motor
driver: retrofw.failsafe) and `retrorun status` says why: the device cannot warn, and silence
must not pass for "nothing behind you". Allocation-free.
"""

from retrofw import api, wire
from retrofw.haptics import PatternPlayer
from retrofw.ticks import ticks_add, ticks_diff

try:
    from micropython import const
except ImportError:  # CPython (tooling only)

    def const(x):
        return x


_CHECK_MS = const(1000)
_GAP_MS = const(300)
_SHUT = const(0x03)  # DRV2605L STATUS: OVER_TEMP | OC_DETECT (datasheet 8.6, STATUS register)
_CAL_FAILED = const(0x08)  # retrofw.drivers.drv2605.STATUS_CAL_FAILED


class MotorOut:
    def __init__(self, motor, led, led_on):
        self.motor = motor
        self.led = led
        self.led_on = led_on
        self.lost = False  # the motor cannot buzz: the LED plays FAULT
        self._last = -1
        self._write_failed = False
        self._shut = False
        self._cal_failed = False
        self._checked = 0
        self._check = getattr(motor, "check", None)
        self._update = getattr(motor, "update", None)
        self._led_fault = PatternPlayer()
        self._led_from = None  # when the LED's FAULT rhythm starts, after a dark gap
        api.live["motor"] = "ok"

    def drive(self, now, strength):
        motor = self.motor
        if strength != self._last or self._write_failed:
            ok = motor.set(strength) if strength else motor.off()
            self._write_failed = ok is False  # the ERM's PWM returns nothing: never fails
            self._last = strength
        if self._update is not None:
            self._update()
        if self._check is not None and ticks_diff(now, self._checked) >= _CHECK_MS:
            self._checked = now
            status = self._check()
            self._shut = status < 0 or (status & _SHUT) != 0
            self._cal_failed = status > 0 and (status & _CAL_FAILED) != 0
        lost = self._write_failed or self._shut
        if lost != self.lost:
            self.lost = lost
            if lost:  # a dark gap first (the LED may be on: recording), then FAULT from "dah"
                self._led_fault.set_level(wire.ALERT_CLEAR, now)
                self._led_from = ticks_add(now, _GAP_MS)
            api.live["motor"] = self.state()
        if lost:
            on = False
            if self._led_from is not None and ticks_diff(now, self._led_from) >= 0:
                self._led_fault.set_level(wire.ALERT_FAULT, now)
                self._led_from = None
            if self._led_from is None:
                on = self._led_fault.update(now) > 0
            self.led.value(self.led_on if on else 1 - self.led_on)

    def state(self):
        if self._write_failed:
            return "no answer"
        if self._shut:
            return "shut down (over-temperature or over-current) or no answer"
        return "ok (calibration failed: default calibration)" if self._cal_failed else "ok"
