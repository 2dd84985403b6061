"""Host-side hardware of the virtual board: what the device's `machine` shim talks to.

`Hardware` holds the virtual clock (microseconds since power-on, never reset) and one model per
peripheral: GPIO pins (button, LED, ultrasonic trig/echo), PWM outputs (every change recorded
with its virtual timestamp: the haptic timeline), I2C buses with chip models plugged in by address,
UARTs fed by models, ADC inputs (battery voltage), the watchdog, the RTC and machine.Timer.

A board profile (boards/*.json, `retrorun.provision.boards`) says what is wired where;
`from_profile` plugs the chip models from `retrorun.devtools.models` it names. A model module that is missing
or fails to build is skipped with a note in `Hardware.notes` (the device then sees a NACK / silence,
like a board with that part unplugged).

The device side speaks a compact text protocol (see `handle`): one line per call, e.g.
`Pw13 1` (pin 13 := 1), `Ir0 41 229 2 16` (I2C bus 0, device 41, register 229, 2 bytes, 16-bit
register address) answered by hex bytes, or `E19` for OSError(ENODEV).

World hooks (what the scenario drives): `distance_mm(t_us) -> float | None` (what an ultrasonic
echo measures; None = no echo), `battery_v(t_us) -> float`, and `drive(pin, level, at_us)` /
`press_button(at_us, duration_us)` for inputs. Chip models may use `hw.now_us` for time.
"""

from __future__ import annotations

import errno
import heapq
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from retrorun.devtools.models.bus import I2CBus, UARTPort
from retrorun.devtools.models.hcsr04 import pulse_width_us
from retrorun.devtools.vboard.hw_buses import (  # noqa: F401 - re-exported
    ESP32_UART_RXBUF,
    REPL_UART_PINS,
    BusCommands,
)

# machine.Pin constants of the ESP32 port
PIN_IN, PIN_OUT, PIN_OPEN_DRAIN = 1, 3, 7
PULL_DOWN, PULL_UP = 1, 2
IRQ_RISING, IRQ_FALLING = 1, 2

# machine.reset_cause() values of the ESP32 port
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5

# GPIOs with an RTC IO function, the only ones esp32.wake_on_ext0/ext1 accept (the port checks
# rtc_gpio_is_valid_gpio): ESP32 TRM "RTC_MUX Pin List" (18 pins), ESP32-S3 TRM (GPIO0-21).
RTC_GPIOS = {"esp32": (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39),
             "esp32s3": tuple(range(0, 22))}

# MICROPY_SCHEDULER_DEPTH of the esp32 port (ports/esp32/mpconfigport.h): pending callbacks
SCHEDULER_DEPTH = 8


class Pin:
    __slots__ = ("ext", "id", "irq_trigger", "level_cache", "mode", "out", "pull")

    def __init__(self, pin_id: int):
        self.id = pin_id
        self.mode = PIN_IN
        self.pull = -1
        self.out = 0  # level the ESP32 drives (mode OUT)
        self.ext: int | None = None  # level something outside drives (None: floating)
        self.irq_trigger = 0
        self.level_cache = 0

    def level(self) -> int:
        if self.mode == PIN_OUT:
            return self.out
        if self.mode == PIN_OPEN_DRAIN and self.out == 0:
            return 0
        if self.ext is not None:
            return self.ext
        if self.pull == PULL_UP:
            return 1
        return 0


class Hardware(BusCommands):
    """The virtual board's peripherals and clock. Thread-safe (one lock)."""

    def __init__(self, *, mac: bytes | None = None, cpu_hz: int = 240_000_000,
                 rtc_start: datetime | None = None):
        if mac is None:  # the MAC the ROM loader reports, so esptool and unique_id() agree
            try:
                from retrorun.devtools.vboard.loader_protocol import DEFAULT_MAC as mac
            except ImportError:
                mac = bytes.fromhex("240ac4a1b2c3")
        self.lock = threading.RLock()
        self.now_us = 0
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self.pins: dict[int, Pin] = {}
        self.pwm: dict[int, tuple[int, int]] = {}  # pin -> (freq, duty_u16) while active
        self.pwm_timeline: list[tuple[int, int, int, int]] = []  # (t_us, pin, freq, duty_u16)
        self.i2c: dict[int, I2CBus] = {}
        self._i2c_pointer: dict[tuple[int, int], int] = {}
        self.i2c_freq: dict[int, int] = {}  # bus -> SCL Hz (machine.I2C's freq)
        self.uarts: dict[int, UARTPort] = {}
        self.uart_models: dict[int, object] = {}
        # uart id -> (ESP TX, ESP RX) GPIOs its model is wired to (attach_uart(pins=...)); a
        # model on the REPL UART's RX pin talks to the REPL until a machine.UART claims the pin
        self.uart_wires: dict[int, tuple[int, int]] = {}
        self.uart_claims: set[int] = set()  # GPIOs a machine.UART took since the last hard reset
        self.repl_input: Callable[[bytes], None] | None = None  # the REPL's input (AppDevice)
        self.repl_heard = bytearray()  # what reached the REPL's pins when repl_input is None
        self._repl_out = bytearray()
        self.adc_inputs: dict[int, Callable[[int], float] | float] = {}
        self.adc_atten: dict[int, int] = {}
        self.wdt_timeout_us: int | None = None
        self.wdt_deadline_us: int | None = None
        self.timers: dict[int, tuple[int, int]] = {}  # id -> (period_us, generation)
        # IRQ keys ("p13", "t0") in the order their callbacks were scheduled: one per edge or
        # timer expiry, as the esp32 port's ISRs call mp_sched_schedule (machine_pin.c); at most
        # SCHEDULER_DEPTH, the rest dropped as mp_sched_schedule does when its queue is full
        self.irq_pending: list[str] = []
        self.irq_dropped = 0
        self.reset_request: tuple[str, int] | None = None  # ("hard"|"soft", reset cause)
        self.reset_cause = PWRON_RESET
        self.wake_reason = 0
        self.wake_pin: tuple[int, int] | None = None  # esp32.wake_on_ext0(pin, level)
        self.mac = mac
        self.cpu_hz = cpu_hz
        start = rtc_start or datetime(2000, 1, 1, tzinfo=UTC)  # an ESP32 after power-on
        self.rtc_base_s = start.timestamp()
        self.rtc_memory = b""
        self.distance_mm: Callable[[int], float | None] | None = None
        self.accel: Callable[[float], tuple[float, float, float]] | None = None  # IMU, in g
        self.battery_v: float | Callable[[int], float] = 3.9  # volts at the cell
        self.profile: dict | None = None  # what wire_profile plugged
        # chip models wired to GPIOs hear the levels there: pin -> [listener(level)]
        self.pin_listeners: dict[int, list[Callable[[int], None]]] = {}
        self.ultrasonic = None  # a trigger/echo module's model (models.hcsr04.HCSR04Model)
        self.notes: list[str] = []
        self.log: list[tuple[int, str]] = []  # notable events: (t_us, text)
        self.on_event: Callable[[], None] | None = None  # called when an outside input changes
        self.read_log: dict[int, list[int]] = {}  # pin -> times the device read it (opt-in)
        # fault injection (vboard/faults.py): I2C buses whose SDA is held low; a host call
        # that never returns (`stall(command)` True); the filesystem's size (faults.FlashSpace)
        self.i2c_held_low: set[int] = set()
        self.i2c_timeouts = 0  # transfers that failed on a held bus
        self.stall: Callable[[str], bool] | None = None
        self.flash_space = None

    # ---- time -------------------------------------------------------------------------------
    def schedule(self, at_us: int, action: Callable[[], None]) -> None:
        with self.lock:
            self._seq += 1
            heapq.heappush(self._events, (int(at_us), self._seq, action))

    def next_event_us(self) -> int | None:
        with self.lock:
            return self._events[0][0] if self._events else None

    def advance_to(self, t_us: int) -> None:
        """Move the clock to t_us, running every model event due on the way, in order."""
        with self.lock:
            while self._events and self._events[0][0] <= t_us:
                at, _, action = heapq.heappop(self._events)
                self.now_us = max(self.now_us, at)
                action()
            self.now_us = max(self.now_us, int(t_us))
            self._hear_repl_pins()
        self._deliver_repl()

    def advance(self, us: int) -> None:
        self.advance_to(self.now_us + us)

    # ---- outside world --------------------------------------------------------------------
    def pin(self, pin_id: int) -> Pin:
        pin = self.pins.get(pin_id)
        if pin is None:
            pin = self.pins[pin_id] = Pin(pin_id)
            pin.level_cache = pin.level()
        return pin

    def _changed(self, pin: Pin) -> None:
        old, new = pin.level_cache, pin.level()
        pin.level_cache = new
        if old == new:
            return
        for listener in self.pin_listeners.get(pin.id, ()):
            listener(new)
        if not pin.irq_trigger:
            return
        if (new and pin.irq_trigger & IRQ_RISING) or (not new and pin.irq_trigger & IRQ_FALLING):
            self.schedule_irq(f"p{pin.id}")

    def schedule_irq(self, key: str) -> None:
        """Queue an IRQ callback (mp_sched_schedule): dropped when SCHEDULER_DEPTH are queued."""
        if len(self.irq_pending) >= SCHEDULER_DEPTH:
            self.irq_dropped += 1
        else:
            self.irq_pending.append(key)

    def drive(self, pin_id: int, level: int | None, at_us: int | None = None) -> None:
        """Something outside the ESP32 drives `pin_id` to `level` (None: releases it)."""
        def act():
            pin = self.pin(pin_id)
            pin.ext = level
            self._changed(pin)
        if at_us is None:
            with self.lock:
                act()
            if self.on_event:
                self.on_event()
        else:
            self.schedule(at_us, act)

    def press_button(self, pin_id: int, at_us: int, duration_us: int, active_low: bool = True):
        self.drive(pin_id, 0 if active_low else 1, at_us)
        self.drive(pin_id, None, at_us + duration_us)

    def set_adc(self, pin_id: int, volts: float | Callable[[int], float]) -> None:
        """Voltage on an ADC pin: a number, or a function of virtual time (us)."""
        self.adc_inputs[pin_id] = volts

    def plug_i2c(self, bus_id: int, address: int, model: object) -> None:
        self.i2c.setdefault(bus_id, I2CBus()).devices[address] = model

    def attach_uart(self, uart_id: int, model: object,
                    pins: tuple[int, int] | None = None) -> None:
        """A UART model: `poll(hw, port)` is called before every read to push due bytes in,
        and `received(hw, data)` (optional) gets what the ESP32 writes. `pins`: the ESP32's
        (TX, RX) GPIOs the chip is wired to; on the REPL UART's RX pin its bytes go to the REPL
        until the firmware creates a machine.UART on that pin."""
        port = getattr(model, "uart", None)
        self.uarts[uart_id] = port if isinstance(port, UARTPort) else UARTPort()
        self.uart_models[uart_id] = model
        if pins is not None:
            self.uart_wires[uart_id] = (int(pins[0]), int(pins[1]))

    def haptic_timeline(self, pin_id: int | None = None) -> list[tuple[int, int, int, int]]:
        return [e for e in self.pwm_timeline if pin_id is None or e[1] == pin_id]

    # ---- resets -------------------------------------------------------------------------------
    def request_reset(self, kind: str, cause: int) -> None:
        with self.lock:
            if self.reset_request is None:
                self.reset_request = (kind, cause)
                self.log.append((self.now_us, f"reset {kind} cause {cause}"))

    def on_reboot(self, hard: bool, cause: int) -> None:
        """Called by the device when it restarts: a hard reset stops the peripherals."""
        with self.lock:
            self.reset_request = None
            self.irq_pending.clear()
            self.timers.clear()
            for pin in self.pins.values():
                pin.irq_trigger = 0
            if hard:  # a soft reset deinits the UARTs but leaves the GPIO matrix as it was
                self.uart_claims.clear()
                for uart_id in self.uart_wires:  # what a UART had received is gone
                    if uart_id in self.uarts:
                        self.uarts[uart_id].read()
                self.reset_cause = cause
                self.wdt_timeout_us = self.wdt_deadline_us = None
                for p in list(self.pwm):
                    self._pwm_set(p, None)
                for pin in self.pins.values():
                    pin.mode, pin.pull, pin.out = PIN_IN, -1, 0
                    self._changed(pin)

    def _wdt_check(self) -> None:
        if self.wdt_deadline_us is not None and self.now_us >= self.wdt_deadline_us:
            self.log.append((self.now_us, "watchdog expired"))
            self.wdt_deadline_us = None
            self.request_reset("hard", WDT_RESET)

    # ---- the device protocol ---------------------------------------------------------------
    def handle(self, cmd: str) -> str:
        """Answer one command from the device's machine shim (see module docstring)."""
        with self.lock:
            try:
                return self._handle(cmd)
            except OSError as exc:
                return f"E{exc.errno or errno.EIO}"
            except (ValueError, IndexError, KeyError) as exc:
                self.notes.append(f"bad command {cmd!r}: {exc}")
                return f"E{errno.EINVAL}"
            finally:
                self._deliver_repl()

    def _handle(self, cmd: str) -> str:
        kind, op, args = cmd[0], cmd[1], cmd[2:].split()
        n = [int(a) for a in args] if kind != "I" or op not in "wW" else None
        if kind == "P":
            return self._pin_cmd(op, n)
        if kind == "W":
            return self._pwm_cmd(op, n)
        if kind == "I":
            return self._i2c_cmd(op, args)
        if kind == "U":
            return self._uart_cmd(op, args)
        if kind == "A":
            return self._adc_cmd(op, n)
        if kind == "D":
            return self._wdt_cmd(op, n)
        if kind == "R":
            return self._rtc_cmd(op, args)
        if kind == "C":
            return self._timer_cmd(op, n)
        if kind == "M":
            return self._machine_cmd(op, n)
        raise ValueError("unknown command")

    def _pin_cmd(self, op: str, n: list[int]) -> str:
        pin = self.pin(n[0])
        if op == "i":  # init: id mode pull value(-1 = keep)
            if n[1] != -1:
                pin.mode = n[1]
            if n[2] != -1:
                pin.pull = n[2]
            if n[3] != -1:
                pin.out = 1 if n[3] else 0
            self._changed(pin)
            return ""
        if op == "v":
            reads = self.read_log.get(pin.id)
            if reads is not None:
                reads.append(self.now_us)
            return str(pin.level())
        if op == "w":
            pin.out = 1 if n[1] else 0
            self._changed(pin)
            return ""
        if op == "q":  # irq: id trigger
            pin.irq_trigger = n[1]
            pin.level_cache = pin.level()
            return ""
        raise ValueError("pin op")

    def _pwm_set(self, pin_id: int, value: tuple[int, int] | None) -> None:
        if value is None:
            if self.pwm.pop(pin_id, None) is not None:
                self.pwm_timeline.append((self.now_us, pin_id, 0, 0))
            return
        if self.pwm.get(pin_id) != value:
            self.pwm[pin_id] = value
            self.pwm_timeline.append((self.now_us, pin_id, value[0], value[1]))

    def _pwm_cmd(self, op: str, n: list[int]) -> str:
        pin = n[0]
        if op == "i":  # init: pin freq duty_u16
            self._pwm_set(pin, (n[1], n[2]))
        elif op == "d":
            self._pwm_set(pin, (self.pwm.get(pin, (5000, 0))[0], n[1]))
        elif op == "f":
            self._pwm_set(pin, (n[1], self.pwm.get(pin, (5000, 0))[1]))
        elif op == "x":
            self._pwm_set(pin, None)
        else:
            raise ValueError("pwm op")
        return ""

    def _adc_cmd(self, op: str, n: list[int]) -> str:
        pin = n[0]
        if op == "i":
            return ""
        if op == "t":  # attenuation
            self.adc_atten[pin] = n[1]
            return ""
        source = self.adc_inputs.get(pin, 0.0)
        volts = source(self.now_us) if callable(source) else float(source)
        full = {0: 0.95, 1: 1.25, 2: 1.75}.get(self.adc_atten.get(pin, 3), 3.1)
        volts = min(max(volts, 0.0), full)
        if op == "v":  # read_uv
            return str(round(volts * 1e6))
        if op == "u":  # read_u16
            return str(round(volts / full * 65535))
        raise ValueError("adc op")

    def _wdt_cmd(self, op: str, n: list[int]) -> str:
        if op == "i":  # timeout_ms
            self.wdt_timeout_us = n[0] * 1000
        if op in "if" and self.wdt_timeout_us is not None:
            self.wdt_deadline_us = self.now_us + self.wdt_timeout_us
            self.schedule(self.wdt_deadline_us, self._wdt_check)
            return ""
        raise ValueError("wdt op")

    def rtc_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.rtc_base_s + self.now_us / 1e6, tz=UTC)

    def _rtc_cmd(self, op: str, args: list[str]) -> str:
        if op == "d":  # datetime -> y m d wd h m s us
            t = self.rtc_datetime()
            return f"{t.year} {t.month} {t.day} {t.weekday()} {t.hour} {t.minute} {t.second} " \
                   f"{t.microsecond}"
        if op == "s":  # set y m d wd h m s us
            y, mo, d, _wd, h, mi, s, us = (int(a) for a in args[:8])
            target = datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)
            self.rtc_base_s = target.timestamp() - self.now_us / 1e6
            return ""
        if op == "m":  # memory: read, or write hex
            if args:
                self.rtc_memory = bytes.fromhex(args[0])
                return ""
            return self.rtc_memory.hex()
        raise ValueError("rtc op")

    def _timer_cmd(self, op: str, n: list[int]) -> str:
        tid = n[0]
        if op == "i":  # id mode(0 one-shot, 1 periodic) period_us
            gen = self.timers.get(tid, (0, 0))[1] + 1
            period = max(1, n[2])
            self.timers[tid] = (period if n[1] else 0, gen)
            self.schedule(self.now_us + period, lambda: self._timer_fire(tid, gen))
            return ""
        if op == "x":
            if tid in self.timers:
                self.timers[tid] = (0, self.timers[tid][1] + 1)
            return ""
        raise ValueError("timer op")

    def _timer_fire(self, tid: int, gen: int) -> None:
        period, current = self.timers.get(tid, (0, -1))
        if current != gen:
            return
        self.schedule_irq(f"t{tid}")
        if period:
            self.schedule(self.now_us + period, lambda: self._timer_fire(tid, gen))

    def _machine_cmd(self, op: str, n: list[int]) -> str:
        if op == "r":  # reset
            self.request_reset("hard", SOFT_RESET)
            return ""
        if op == "s":  # soft_reset
            self.request_reset("soft", self.reset_cause)
            return ""
        if op == "e":  # esp32.wake_on_ext0: pin level (pin -1: none); RTC GPIOs only
            if n[0] >= 0 and n[0] not in RTC_GPIOS.get((self.profile or {}).get("chip", "esp32"),
                                                        ()):
                return "X"  # the port: ValueError("invalid pin")
            self.wake_pin = None if n[0] < 0 else (n[0], n[1])
            return ""
        if op == "c":
            return str(self.reset_cause)
        if op == "w":
            return str(self.wake_reason)
        if op == "u":
            return self.mac.hex()
        if op == "f":
            if n:
                self.cpu_hz = n[0]
            return str(self.cpu_hz)
        if op == "p":  # time_pulse_us: pin level timeout_us
            return str(self._time_pulse(n[0], n[1], n[2]))
        raise ValueError("machine op")

    def _time_pulse(self, pin_id: int, level: int, timeout_us: int) -> int:
        """machine.time_pulse_us: busy-waits, so virtual time passes while it measures."""
        return pulse_width_us(self, self.pin(pin_id).level, level, timeout_us)
