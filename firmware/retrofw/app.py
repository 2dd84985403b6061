"""The retrorun app: asyncio tasks wiring drivers -> pipeline -> haptics, the IMU -> steps and
posture, the session logger, the button, the battery, the status LED and the watchdog.

Every decision is made by the pure modules (alerts, haptics, steps, posture, store); the tasks
here only move data between them and the hardware. Hardware comes from the board profile
(/board.json) through the factory tables of retrofw.parts, which also boots the app (`boot`)
and starts Bluetooth (`start_ble`); the settings come from /config.json (retrofw.settings).

Tasks (all created in `main()`, each a loop around one of the app's per-tick methods): ranging,
haptics, imu, storage (the only one that writes the log), button, battery, led, console (the
laptop's USB requests, retrofw.usbctl), usb (live lines), ble (when it runs) and watchdog;
their periods and duties are in docs/app.md ("Tasks"), once.
retrofw.failsafe runs it all: a boot that fails plays FAULT in a loop, an exception escaping
a task is logged to /crash.txt and the board resets, the motor is off on every exit.
"""

import asyncio
import gc
import time

from machine import ADC, I2C, WDT, Pin

from retrofw import api, failsafe, wire, wire_usb
from retrofw.alerts import Pipeline, RangeWatch, hold_range_m
from retrofw.battery import battery
from retrofw.haptics import PATTERN_POSTURE, PATTERN_REDUCED, MotorOut, PatternPlayer
from retrofw.posture import Posture
from retrofw.snapshot import EventQueue, SnapshotRing
from retrofw.steps import StepCounter
from retrofw.store import SessionStore, SessionWriter
from retrofw.unload import unload
from retrofw.version import VERSION

try:
    from micropython import const
except ImportError:  # CPython (only for tooling; the app itself needs machine)

    def const(x):
        return x


_TICK_MS = const(20)  # motor / button tick
_STORE_MS = const(100)  # storage task period
_IMU_MS = const(200)  # IMU batch period
_CONSOLE_MS = const(50)  # USB console requests
_LONG_PRESS_MS = const(2000)
_WDT_MS = const(8000)
_IMU_BATCH = const(32)
_STABLE_MS = const(60000)

SESSION_CLOSED = "retrorun: closed session"  # printed with the id when a session ends


class App:
    """The running device: hardware, pure cores and the state the tasks share."""

    current = None  # the running App (for the REPL and `retrorun bench heap`)

    def __init__(self, profile, config, config_fault=0, config_hash=0):
        from retrofw import parts  # boot only: _build() unloads it

        self.board_name = profile["name"]  # the profile itself is not kept (heap)
        self.config = config
        self.config_hash = config_hash
        bus = profile.get("i2c")
        self.i2c = I2C(bus["id"], sda=Pin(bus["sda"]), scl=Pin(bus["scl"]),
                       freq=bus.get("freq", 400000)) if bus else None
        self.sensor = failsafe.distance_sensor(parts.DISTANCE_FACTORIES, profile["distance"],
                                               self.i2c)
        self.motor = parts.HAPTIC_FACTORIES[profile["haptic"]["kind"]](profile["haptic"], self.i2c)
        self.imu = None
        rate = config["steps.rate_hz"]
        try:
            self.imu = parts.IMU_FACTORIES[profile["imu"]["kind"]](profile["imu"], self.i2c, rate)
            rate = self.imu.rate_hz
        except OSError as exc:  # no IMU: warnings still work, steps do not
            print("retrorun: IMU unavailable:", exc)
        self.button = parts.button_pin(profile)
        self.button_active = 0 if profile["button"].get("active_low", True) else 1
        self.adc = ADC(Pin(profile["battery"]["adc"]))
        self.adc.atten(ADC.ATTN_11DB)
        self.divider = profile["battery"].get("divider", 2.0)
        led = profile["led"]
        self.led = Pin(led["pin"], Pin.OUT, value=1 if led.get("active_low") else 0)
        self.led_on = 0 if led.get("active_low") else 1
        self.motor_out = MotorOut(self.motor, self.led, self.led_on)
        self.pipeline = Pipeline(
            mode=config["alert.mode"], notice_m=config["alert.notice_m"],
            warning_m=config["alert.warning_m"], stop_m=config["alert.stop_m"],
            ttc_warning_s=config["alert.ttc_warning_s"], ttc_stop_s=config["alert.ttc_stop_s"],
            hysteresis_m=config["alert.hysteresis_m"],
            fault_timeout_ms=config["alert.fault_timeout_ms"],
            treadmill_min_m=config["alert.treadmill_min_m"],
            max_range_m=getattr(self.sensor, "max_mm", 8000) / 1000,
            hold_m=hold_range_m(getattr(self.sensor, "beam_half_deg", 7.5)))
        self.reach = None  # a sensor that knows how far it sees now (`usable_mm`): watched
        if hasattr(self.sensor, "usable_mm"):
            self.reach = RangeWatch(getattr(self.sensor, "max_mm", 4000))
        self.player = PatternPlayer()
        self.steps = StepCounter(rate_hz=rate)
        self.posture = Posture(rate_hz=rate, cue=config["posture.cue"],
                               cue_deg=config["posture.cue_deg"], cue_s=config["posture.cue_s"])
        self.imu_buf = None
        if self.imu is not None:
            from array import array

            self.imu_buf = array("h", bytes(6 * _IMU_BATCH))
        self.strength_scale = config["haptic.strength"]
        self._has_fresh = hasattr(self.sensor, "fresh")
        App.current = self
        self.store = SessionStore("/", min_free_kb=config["storage.min_free_kb"])
        self.writer = None
        self.ring = None
        self.events = EventQueue()
        self.motor_due = False  # a level change the haptics task has not driven yet
        self.steps_base = 0
        self.level = wire.ALERT_CLEAR
        self.reading = wire.NO_READING
        self.fault_code = 0
        self.battery_mv = 0
        self.config_fault = config_fault
        self.beats = {}
        self.running = True
        self.ble = None
        self.minimal = failsafe.minimal()  # crash boots in a row: warnings only
        if self.minimal:
            print("retrorun: minimal mode after repeated crashes: no logging, no Bluetooth")
        api.live["board"] = profile["name"]
        api.live["config_hash"] = config_hash
        api.live["config_fallback"] = config_fault
        api.live["alert_mode"] = config["alert.mode"]
        api.attach(None, self.on_config, "/")
        if config["ble.enabled"] and not self.minimal:
            self.ble = parts.start_ble(config, self.on_config)

    # -- shared actions ------------------------------------------------------------------------
    def beat(self, name):
        """A task is alive: remember when (the watchdog compares with its allowed silence)."""
        self.beats[name] = time.ticks_ms()

    def on_config(self, values):
        """New configuration from the host: applied at the next session start (reboot). Called
        by retrofw.api while it has the settings module loaded (and unloads it after)."""
        from retrofw import settings

        self.config = values
        self.config_hash = settings.config_hash(values)
        api.live["config_hash"] = self.config_hash
        api.live["config_fallback"] = 0

    def start_session(self, now, keep_steps=False):
        """Start recording; keep_steps counts the steps that triggered an auto-start."""
        if self.writer is not None or self.minimal:
            return
        cfg = self.config
        try:
            self.writer = SessionWriter("/", now_ms=now, config_hash=self.config_hash,
                                        sample_period_ms=cfg["log.sample_period_ms"],
                                        flush_ms=cfg["log.flush_ms"],
                                        min_free_kb=cfg["storage.min_free_kb"],
                                        board=self.board_name, start_unix=api.unix_now(),
                                        firmware=VERSION, store=self.store)
        except OSError as exc:  # the flash is full (or failing): warn anyway, record nothing
            print("retrorun: cannot record a session:", exc)
            api.live["storage"] = "cannot record: %s" % exc
            return
        period = getattr(self.sensor, "period_ms", 100)
        if cfg["log.snapshot_s"] > 0:
            self.ring = SnapshotRing(self.writer, period, cfg["log.snapshot_s"])
        self.steps_base = 0 if keep_steps else self.steps.steps
        self.writer.event(now, wire.EV_BOOT, 0, 0)
        if self.level:  # an alert already on: the session's log starts with it
            self.writer.event(now, wire.EV_ALERT, self.level, self.reading)
        if self.config_fault or self.pipeline.mode:
            self.writer.event(now, wire.EV_CONFIG, self.config_fault, self.pipeline.mode)
        api.attach(self.writer, self.on_config, "/")

    def log_event(self, now, event, a, b):
        """Queue an event for the session log (written by the storage task; no flash here)."""
        if self.writer is not None:
            self.events.add(now, event, a, b)

    def stop_session(self, now):
        if self.writer is None:
            return
        self.store_pending()
        self.writer.close(now)
        print(SESSION_CLOSED, self.writer.session_id)
        self.writer = None
        self.ring = None
        self.events = EventQueue()
        self.motor_due = False  # a level change the haptics task has not driven yet
        api.attach(None, self.on_config, "/")
        gc.collect()

    def on_level(self, now, level):
        if level == self.level:
            return
        self.level = level
        self.player.set_level(level, now)
        self.motor_due = True
        self.log_event(now, wire.EV_ALERT, level, self.reading)
        if level in (wire.ALERT_WARNING, wire.ALERT_STOP) and self.ring is not None:
            self.ring.trigger(now, level)

    # -- tasks ---------------------------------------------------------------------------------
    # A task: driver I/O, then the app's own work on it (on_reading, motor_strength, on_imu,
    # log_sample), allocation-free (`retrorun bench heap` checks them on the running app).
    async def ranging(self):
        sensor = self.sensor
        period = getattr(sensor, "poll_ms", getattr(sensor, "period_ms", 100))
        while self.running:
            now = time.ticks_ms()
            self.on_reading(now, sensor.measure())
            self.beat("ranging")
            await asyncio.sleep_ms(period)

    def on_reading(self, now, reading):
        self._sensor_health(now, reading)
        if self.reach is not None:
            self._reach(now)
        # new readings and faults only: a repeated frame would hide a dead module for a while
        if not self._has_fresh or getattr(self.sensor, "fresh") or reading < wire.NO_READING:
            self.reading = reading
            self.on_level(now, self.pipeline.update(now, reading))
            if self.ring is not None:
                self.ring.feed(now, reading)

    def _reach(self, now):
        """The sensor's usable range (retrofw.alerts.RangeWatch): the cue, a change logged."""
        reach = self.reach
        if reach is None:
            return
        usable = getattr(self.sensor, "usable_mm", 0)
        what = reach.update(now, usable)  # -1 nothing, 1 reduced, 0 full again, 2 reminder
        if what < 0:
            return
        if what:
            self.player.cue(PATTERN_REDUCED, now)
        if what < 2:
            api.live["usable_mm"] = usable if what else None
            self.log_event(now, wire.EV_RANGE, what, usable)

    def _sensor_health(self, now, reading):
        code = reading if reading < wire.NO_READING else 0
        if code != self.fault_code:
            self.fault_code = code
            api.live["sensor"] = wire.SENSOR_FAULT_NAMES[-code] if code else "ok"
            self.log_event(now, wire.EV_SENSOR, 1 if code else 0, code)

    async def haptics(self):
        out = self.motor_out
        while self.running:
            now = time.ticks_ms()
            out.drive(now, self.motor_strength(now))
            self.motor_due = False
            self.beat("haptics")
            await asyncio.sleep_ms(_TICK_MS)

    def motor_strength(self, now):
        """The level now (predicted between readings) and the motor strength for it (0: off)."""
        self.on_level(now, self.pipeline.check(now))
        return self.player.drive(now, self.strength_scale)

    async def imu_task(self):
        imu = self.imu
        if imu is None or self.imu_buf is None:
            while self.running:  # nothing to read, but the watchdog still wants a heartbeat
                self.beat("imu")
                await asyncio.sleep_ms(1000)
            return
        buf = self.imu_buf
        while self.running:
            now = time.ticks_ms()
            self.on_imu(now, imu.read_fifo(buf, _IMU_BATCH))
            self.beat("imu")
            await asyncio.sleep_ms(_IMU_MS)

    def on_imu(self, now, n):
        """The `n` samples read into imu_buf (the last one at `now`): steps, posture, cues."""
        buf = self.imu_buf
        imu = self.imu
        if buf is None or imu is None:
            return
        rate = imu.rate_hz
        for i in range(n):
            t = time.ticks_add(now, -((n - 1 - i) * 1000) // rate)
            x = buf[3 * i]
            y = buf[3 * i + 1]
            z = buf[3 * i + 2]
            self.steps.update(t, x, y, z)
            self.posture.update(x, y, z)
        self.pipeline.moving = self.steps.cadence(now) > 0  # background: moves with the runner
        if self.posture.cue_check(now):
            self.player.cue(PATTERN_POSTURE, now)
            self.log_event(now, wire.EV_POSTURE, 1, self.posture.angle_tenths())
        if self.writer is None and self.config.get("session.auto_start") and \
                self.steps.steps >= 10:
            self.start_session(now, keep_steps=True)

    async def storage(self):
        period = self.config["log.sample_period_ms"]
        last_sample = time.ticks_ms()
        while self.running:
            while self.motor_due:  # a level change first reaches the motor, then the flash
                await asyncio.sleep_ms(_TICK_MS)
            now = time.ticks_ms()
            self.store_pending()
            if time.ticks_diff(now, last_sample) >= period:
                last_sample = time.ticks_add(last_sample, period)
                if time.ticks_diff(now, last_sample) >= period:  # late: no burst of samples
                    last_sample = now
                self.log_sample(now)
            if self.writer is not None:
                self.writer.poll(now)
            self.beat("storage")
            await asyncio.sleep_ms(_STORE_MS)

    def store_pending(self):
        """The queued events and a finished snapshot into the session writer."""
        self.events.write(self.writer)
        if self.ring is not None:
            self.ring.write()

    def log_sample(self, now):
        w = self.writer
        if w is not None:
            pipe = self.pipeline
            steps = self.steps.steps - self.steps_base
            seen = pipe.ranger.predict(now)  # what the sensor shows (not a held object)
            w.sample(now, seen if seen >= 0 else self.reading,
                     self.level, steps, self.steps.cadence(now), self.posture.angle_tenths())
            api.live["steps"] = steps

    async def button_task(self):
        down_since = None
        while self.running:
            now = time.ticks_ms()
            pressed = self.button.value() == self.button_active
            if pressed and down_since is None:
                down_since = now
            elif pressed and down_since is not None and \
                    time.ticks_diff(now, down_since) >= _LONG_PRESS_MS:
                self.log_event(now, wire.EV_BUTTON, 2, 0)
                self.sleep(now)
            elif not pressed and down_since is not None:
                down_since = None
                if self.ble is not None and self.ble.confirm(now):
                    pass  # the press confirmed a change asked for over Bluetooth
                elif self.writer is None:
                    self.start_session(now)
                else:
                    self.log_event(now, wire.EV_BUTTON, 1, 0)
                    self.stop_session(now)
            self.beat("button")
            await asyncio.sleep_ms(_TICK_MS)

    async def battery(self):
        await battery(self)

    async def ble_task(self):
        """Bluetooth: answer requests every 20 ms; live values (owner) four times a second and
        RSC once a second (started only when the GATT server runs)."""
        server = self.ble
        if server is None:
            return
        n = 0
        while self.running:
            server.poll()
            n += 1
            if n % 12 == 0:
                now = time.ticks_ms()
                cadence = self.steps.cadence(now)
                code = self.fault_code
                server.notify_live(self.pipeline.distance_mm, self.level, -code if code else 0,
                                   cadence)
                if n % 48 == 0:  # speed and stride are not measured
                    server.notify_rsc(0, cadence, cadence > 140, 0, 0)
            self.beat("ble")
            await asyncio.sleep_ms(_TICK_MS)

    async def usb_live(self):
        """Two live lines a second on the USB console: `@rr distance level cadence steps
        sensor_fault battery_mv recording` (what `retrorun monitor` shows)."""
        while self.running:
            if self.config["usb.live"]:
                now = time.ticks_ms()
                print(wire_usb.LIVE_PREFIX, self.pipeline.distance_mm, self.level,
                      self.steps.cadence(now), self.steps.steps, -self.fault_code,
                      self.battery_mv, 1 if self.writer is not None else 0)
            self.beat("usb")
            await asyncio.sleep_ms(500)

    async def console(self):
        """Requests from the laptop on the USB console (retrofw.usbctl): status, sessions,
        reads, config and the clock, answered while the app warns and records."""
        from retrofw import usbctl

        server = usbctl.start(self.on_clock)
        while self.running:
            if server is not None:
                await server.poll()
            self.beat("console")
            await asyncio.sleep_ms(_CONSOLE_MS)

    def on_clock(self, was, unix_s):
        """The laptop set the clock: a session that started with it unknown logs when it was
        set, so the host can date the session (docs/log-format.md, EV_CLOCK)."""
        w = self.writer
        if w is not None and not was and not w.start_unix:
            self.log_event(time.ticks_ms(), wire.EV_CLOCK, 0, unix_s)

    async def led_task(self):
        blink = 0
        while self.running:
            blink ^= 1
            if self.level == wire.ALERT_FAULT:
                on = blink
            else:
                on = 1 if self.writer is not None else 0
            if not self.motor_out.lost:  # else the haptics task plays FAULT on the LED
                self.led.value(self.led_on if on else 1 - self.led_on)
            self.beat("led")
            await asyncio.sleep_ms(250)

    async def watchdog(self, silences):
        """Feed the hardware watchdog only while every task beat within its allowed silence
        ((name, ms) pairs: a few of its own periods), so one hung task resets the board."""
        wdt = WDT(timeout=_WDT_MS)
        failsafe.watchdog.append(wdt)
        start = time.ticks_ms()
        while self.running:
            now = time.ticks_ms()
            alive = True
            for name, silence in silences:
                last = self.beats.get(name, start)
                if time.ticks_diff(now, last) > silence:
                    alive = False
            if alive:
                wdt.feed()
                if time.ticks_diff(now, start) > _STABLE_MS:  # a minute up: not a crash loop
                    failsafe.clear_crashes()
            await asyncio.sleep_ms(_WDT_MS // 4)

    def sleep(self, now):
        """Close the session and deep-sleep until the button wakes the board (retrofw.sleep)."""
        from retrofw.sleep import deep_sleep

        deep_sleep(self, now)


def _build():
    """Boot (`retrofw.parts.boot`: profile, settings, recovery, the App), then drop the boot-only
    modules and the profile. None when /board.json is missing or wrong."""
    from retrofw import parts

    app = parts.boot(App)
    parts = None
    unload("retrofw.parts", "retrofw.settings")
    gc.collect()
    return app


async def main():
    app = _build()
    if app is None:
        return
    values = app.config
    failsafe.running(app)
    # (name, task, allowed silence in ms): a few periods of the task, at least 2 s
    period = getattr(app.sensor, "period_ms", 100)
    tasks = (("ranging", app.ranging, 2000 + 4 * period), ("haptics", app.haptics, 2000),
             ("imu", app.imu_task, 3000),
             ("storage", app.storage, 2000 + 2 * int(values["log.sample_period_ms"])),
             ("button", app.button_task, 2000),
             ("battery", app.battery, 30000),  # 3 of its 10 s periods
             ("led", app.led_task, 2000), ("usb", app.usb_live, 2000),
             ("console", app.console, 5000))
    if app.ble is not None:
        tasks += (("ble", app.ble_task, 2000),)
    for _name, task, _silence in tasks:
        asyncio.create_task(task())
    await app.watchdog([(name, silence) for name, _task, silence in tasks])


def start():
    """Run the app forever (retrofw.failsafe.run: never a silent failure)."""
    failsafe.run(main)
