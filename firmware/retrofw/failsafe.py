"""Never silent (issue 14): the motor in a safe state at power-on and off on every exit, and a
boot that cannot fail silently.

- `haptic_safe()`: main.py's first call. A DRV2605L keeps its RTP value across an ESP32 reset
  (the motor would stay on through a crash loop): RTP_INPUT 0, MODE standby; an ERM's PWM pin
  driven low.
- `distance_sensor(...)`: a distance sensor that does not answer at boot becomes `DeadSensor`,
  which reads SENSOR_NO_ACK: the app runs, and its pipeline plays FAULT after
  alert.fault_timeout_ms, as for a sensor lost while running.
- `start()` (main.py) imports the app, `run(main)` runs it. An exception before its tasks run (no haptic driver, a part that
  raises, anything in boot) plays FAULT in a loop instead of a reset loop: motor and LED, the
  LED alone when the motor driver itself is missing, the watchdog fed. Later exceptions (a task,
  `on_task_error`) are logged to /crash.txt and the board resets with the motor off.
  KeyboardInterrupt (Ctrl-C: every USB command of the host starts with one) turns the motor off,
  parks the watchdog and closes the session (the app does not run again until a reset: what
  the session holds in RAM would be lost, and the host syncs it complete).
- Crash boots are counted in RTC memory (kept across resets, lost at power-off): from
  CRASH_BOOTS on, `minimal()` is True and the app starts warnings only (no logging, no BLE).
  A clean exit (Ctrl-C, deep sleep) or a minute of running clears the count.
"""

import asyncio
import time

from machine import WDT, Pin, reset

from retrofw import wire

try:
    from micropython import const
except ImportError:  # CPython (tooling only)

    def const(x):
        return x


CRASH_FILE = "/crash.txt"
CRASH_BOOTS = const(3)  # crash resets in a row before the minimal mode
_TICK_MS = const(20)
_WDT_MS = const(8000)
_PARK_MS = const(120000)  # the watchdog's timeout while the host works at the REPL
_DRV_MODE = const(0x01)
_DRV_RTP = const(0x02)
_DRV_STANDBY = const(0x40)
_RTC_TAG = b"rr"

watchdog = []  # the machine.WDT once the app (or the fault loop) started it
_app = []  # the App once its tasks run: a later exception is a crash, not a failed boot


def _profile():
    import json

    with open("/board.json") as f:
        return json.load(f)


def _i2c(profile):
    from machine import I2C

    bus = profile["i2c"]
    return I2C(bus["id"], sda=Pin(bus["sda"]), scl=Pin(bus["scl"]), freq=bus.get("freq", 400000))


def haptic_safe():
    """Stop the haptic output left by a previous run (main.py, before anything else)."""
    profile = _profile()
    haptic = profile["haptic"]
    if "address" in haptic:  # DRV2605L: stop the RTP drive, then standby
        bus = _i2c(profile)
        bus.writeto_mem(haptic["address"], _DRV_RTP, b"\x00")
        bus.writeto_mem(haptic["address"], _DRV_MODE, bytes((_DRV_STANDBY,)))
    elif "pin" in haptic:
        Pin(haptic["pin"], Pin.OUT, value=0)


class DeadSensor:
    """A distance sensor that did not answer at boot: every reading is SENSOR_NO_ACK."""

    period_ms = 100
    max_mm = 8000

    def measure(self):
        return wire.SENSOR_NO_ACK


def distance_sensor(factories, entry, i2c):
    try:
        return factories[entry["kind"]](entry, i2c)
    except OSError as exc:
        print("retrorun: distance sensor unavailable:", exc)
        return DeadSensor()


# -- crash boots -------------------------------------------------------------------------------
def _rtc():
    try:
        from machine import RTC

        return RTC()
    except (ImportError, AttributeError):
        return None


def crash_boots():
    rtc = _rtc()
    data = rtc.memory() if rtc is not None else b""
    return data[2] if len(data) >= 3 and data[:2] == _RTC_TAG else 0


def _set_crash_boots(n):
    rtc = _rtc()
    if rtc is not None:
        rtc.memory(_RTC_TAG + bytes((min(n, 255),)))


def minimal():
    """True after CRASH_BOOTS crash resets in a row: start warnings only."""
    return crash_boots() >= CRASH_BOOTS


def clear_crashes():
    if crash_boots():
        _set_crash_boots(0)


# -- exits -------------------------------------------------------------------------------------
def motor_off(motor=None):
    """Turn the running app's motor (or `motor`) off; never raises."""
    if motor is None and _app:
        motor = _app[0].motor
    if motor is not None:
        try:
            motor.off()
        except Exception:  # noqa: BLE001  # an exit path: nothing may stop it
            pass


def park_watchdog():
    """Ctrl-C from the host (deploy, sync, config at the REPL): a started watchdog cannot be
    stopped, but a new WDT re-initialises it (esp32 port, MicroPython PRs #7770/#10901): 2
    minutes, then the board resets into the app if no host restarted it (retrorun.link)."""
    if watchdog:
        wdt = WDT(timeout=_PARK_MS)
        wdt.feed()
        del watchdog[1:]
        watchdog.append(wdt)  # [the app's, the parked one]


def host_working():
    """The host is working at the REPL (every device API call): feed the parked watchdog, so a
    sync longer than its 2 minutes (~750 KB at 115200 baud) is not reset mid-way. Nothing when
    the watchdog was never parked (the app never ran, or runs: its own task feeds it)."""
    if len(watchdog) > 1:
        watchdog[1].feed()


def log_crash(exc):
    try:
        import sys

        with open(CRASH_FILE, "w") as f:
            sys.print_exception(exc, f)  # type: ignore[attr-defined]
    except OSError:
        pass


def close_session():
    """Close the app's session, if one is recorded: what it holds in RAM (the open sample
    block, records not flushed yet) and its footer reach the flash. Never raises."""
    if _app:
        try:
            _app[0].stop_session(time.ticks_ms())
        except Exception:  # noqa: BLE001  # an exit path: the rest must still run
            pass


def crash_reset(exc):
    """Log, close the session, motor off, count the crash and reset."""
    log_crash(exc)
    close_session()
    motor_off()
    _set_crash_boots(crash_boots() + 1)
    reset()


def on_task_error(_loop, context):
    """asyncio's exception handler: an exception escaping a task."""
    crash_reset(context.get("exception") or RuntimeError(context.get("message", "?")))


def running(app):
    """The app's tasks start now: later exceptions are crashes (reset), not a failed boot."""
    _app.append(app)
    asyncio.get_event_loop().set_exception_handler(on_task_error)


def start():
    """main.py's start: import and run the app; FAULT in a loop when it cannot even load."""
    try:
        from retrofw import app
    except Exception as exc:  # a damaged firmware file, no memory  # noqa: BLE001
        log_crash(exc)
        print("retrorun: cannot load the app:", exc)
        fault_loop()
    app.start()


def run(main):
    """Run the coroutine function `main` (the app) forever; see the module docstring."""
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        motor_off()
        park_watchdog()
        close_session()
        clear_crashes()
        raise
    except Exception as exc:  # the handler of last resort  # noqa: BLE001
        if _app:
            crash_reset(exc)
        log_crash(exc)
        print("retrorun: cannot warn:", exc)
        fault_loop()


# -- the fault loop ----------------------------------------------------------------------------
def _fault_outputs():
    """(motor or None, LED pin or None, LED on level) built straight from the profile."""
    motor = led = None
    on = 1
    try:
        profile = _profile()
    except (OSError, ValueError):
        return None, None, 1
    try:
        from retrofw import parts

        haptic = profile["haptic"]
        motor = parts.HAPTIC_FACTORIES[haptic["kind"]](
            haptic, _i2c(profile) if "address" in haptic else None)
    except Exception as exc:  # noqa: BLE001  # no motor: the LED alone
        print("retrorun: no haptic driver:", exc)
    try:
        entry = profile["led"]
        on = 0 if entry.get("active_low") else 1
        led = Pin(entry["pin"], Pin.OUT, value=1 - on)
    except (KeyError, TypeError, ValueError, OSError):
        pass
    return motor, led, on


def fault_loop():
    """Play FAULT ("I cannot see") on the motor and the LED forever, feeding the watchdog; only
    Ctrl-C from the host ends it (motor off, watchdog parked)."""
    from retrofw.haptics import PatternPlayer

    motor, led, on = _fault_outputs()
    wdt = WDT(timeout=_WDT_MS)
    watchdog.append(wdt)
    player = PatternPlayer()
    player.set_level(wire.ALERT_FAULT, time.ticks_ms())
    last = -1
    try:
        while True:
            strength = player.update(time.ticks_ms())
            if strength != last:
                last = strength
                if led is not None:
                    led.value(on if strength else 1 - on)
                if motor is not None:
                    try:
                        if strength:
                            motor.set(strength)
                        else:
                            motor.off()
                    except OSError:
                        pass  # a driver that stopped answering: the LED still shows it
            update = getattr(motor, "update", None)
            if update is not None:
                try:
                    update()
                except OSError:
                    pass
            wdt.feed()
            time.sleep_ms(_TICK_MS)
    except KeyboardInterrupt:
        motor_off(motor)
        park_watchdog()
        raise
