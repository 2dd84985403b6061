"""Wiring a virtual board as a board profile says: chip models on its buses, pins, ADC inputs.

`from_profile(profile, ...)` builds a `hw.Hardware` and `wire_profile(hw, profile)` plugs into
it what `profile` (boards/*.json) names: the distance sensor (HC-SR04 echo pins, or a chip model
on the I2C bus / a UART), the IMU and the haptic driver at their I2C addresses, the battery
divider on its ADC pin, the button. Chip models come from `retrorun.devtools.models`; one that
is missing or fails to build is skipped with a note in `hw.notes` (the device sees a NACK or
silence, like a board with that part unplugged), so a board never fails to boot.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from retrorun.devtools.vboard.hw import Hardware

_MODEL_MODULES = {"mpu6500": "mpu6050", "lsm6ds3": "lsm6ds", "lsm6dso": "lsm6ds",
                  "lsm6dsox": "lsm6ds", "uart_ultrasonic": "a02yyuw"}


def _target(hw: Hardware):
    """The world's distance for a chip model, in whole mm (None: nothing in range)."""
    def target(now_us: int) -> int | None:
        d = hw.distance_mm(now_us) if hw.distance_mm else None
        return None if d is None else round(d)
    return target


def _imu_source(hw: Hardware):
    world = hw.accel
    return world if world is not None else (lambda t: (0.0, 0.0, 1.0))


def _build(kind: str, module, hw: Hardware, spec: dict):
    """The known models of retrorun.devtools.models, built on the board's clock and world."""
    if kind == "vl53l1x":
        return module.VL53L1XModel(hw, target=_target(hw))
    if kind == "tfluna":
        return module.TFLunaModel(hw, target=_target(hw))
    if kind == "uart_ultrasonic":
        return module.A02YYUWModel(hw, mode=spec.get("mode", "auto"), target=_target(hw))
    if kind == "drv2605":
        return module.DRV2605Model(hw)
    if kind in ("mpu6050", "mpu6500"):
        who = module.WHO_AM_I_MPU6500 if kind == "mpu6500" else module.WHO_AM_I_MPU6050
        return module.MPU6050Model(_imu_source(hw), who_am_i=who)
    if kind in ("lsm6ds3", "lsm6dso", "lsm6dsox"):
        who = module.WHO_AM_I_LSM6DS3 if kind == "lsm6ds3" else module.WHO_AM_I_LSM6DSO
        return module.LSM6DSModel(_imu_source(hw), who_am_i=who)
    return None


def load_model(kind: str, hw: Hardware, spec: dict) -> object | None:
    """A chip model for `kind` from retrorun.devtools.models, or None (with a note) when unavailable.

    A model module may define `vboard_model(hw, spec)` returning the device model; the known
    kinds are built on the board's clock (`hw`, which has `now_us`/`schedule`) and world;
    otherwise the first class whose name matches the kind is built without arguments.
    Models with `advance(seconds)` and a `t` attribute (the IMUs) are advanced to the board's
    time before every bus transaction."""
    name = _MODEL_MODULES.get(kind, kind)
    try:
        module = importlib.import_module(f"retrorun.devtools.models.{name}")
    except ImportError as exc:
        hw.notes.append(f"no model for {kind} ({exc}); it will not answer")
        return None
    try:
        if hasattr(module, "vboard_model"):
            return module.vboard_model(hw, spec)
        model = _build(kind, module, hw, spec)
        if model is not None:
            return model
        for attr in dir(module):
            obj = getattr(module, attr)
            if isinstance(obj, type) and attr.lower().replace("_", "").startswith(
                    name.replace("_", "")):
                return obj()
    except Exception as exc:  # a model that cannot be built must not stop the board
        hw.notes.append(f"model {kind} failed to build: {exc}")
        return None
    hw.notes.append(f"module retrorun.devtools.models.{name} has no model class for {kind}")
    return None


def from_profile(profile: dict, *, distance_mm: Callable[[int], float | None] | None = None,
                 battery_v: float | Callable[[int], float] = 3.9,
                 accel: Callable[[float], tuple[float, float, float]] | None = None) -> Hardware:
    """Hardware wired as a board profile says (pins, I2C chips, UART sensor, ADC battery).

    distance_mm(t_us): what the distance sensor sees (None: nothing); battery_v: volts or
    volts(t_us); accel(t_s) -> (x, y, z) in g: what the IMU feels (default: lying still)."""
    hw = Hardware()
    hw.distance_mm = distance_mm
    hw.accel = accel
    hw.battery_v = battery_v
    wire_profile(hw, profile)
    return hw


def wire_profile(hw: Hardware, profile: dict) -> None:
    """Plug into `hw` what `profile` wires (after removing any earlier wiring: buses, UARTs,
    echo pins, ADC inputs), with the world hooks already on `hw`."""
    with hw.lock:
        hw.i2c.clear()
        hw.uarts.clear()
        hw.uart_models.clear()
        hw.uart_wires.clear()
        hw.adc_inputs.clear()
        hw.pin_listeners.clear()
        hw.ultrasonic = None
        hw.profile = profile
    battery_v = hw.battery_v
    i2c_id = profile.get("i2c", {}).get("id", 0)
    distance = profile.get("distance", {})
    if distance.get("kind") in ("hcsr04", "jsnsr04t"):
        hw.ultrasonic = _trig_echo_module(hw, distance)
    elif "address" in distance:
        model = load_model(distance["kind"], hw, distance)
        if model is not None:
            hw.plug_i2c(i2c_id, distance["address"], model)
    elif "uart" in distance:
        model = load_model(distance["kind"], hw, distance)
        if model is not None:
            uart = distance["uart"]
            hw.attach_uart(uart["id"], model, pins=(uart.get("tx", -1), uart.get("rx", -1)))
    for part in ("imu", "haptic"):
        spec = profile.get(part, {})
        if "address" in spec:
            model = load_model(spec["kind"], hw, spec)
            if model is not None:
                hw.plug_i2c(i2c_id, spec["address"], model)
    battery = profile.get("battery")
    if battery:
        divider = float(battery.get("divider", 1.0))
        if callable(battery_v):
            hw.set_adc(battery["adc"], lambda t, f=battery_v: f(t) / divider)
        else:
            hw.set_adc(battery["adc"], float(battery_v) / divider)
    button = profile.get("button")
    if button:
        hw.pin(button["pin"])  # idle: released (pull-up / pull-down does the rest)


class BoardPin:
    """A chip model's side of one GPIO (the models.pwm.Pin protocol): `listeners` hear the level
    the ESP32 puts there, `drive(level)` is the chip's output, `value()` the level now."""

    def __init__(self, hw: Hardware, pin_id: int):
        self.hw = hw
        self.id = pin_id
        self.listeners: list = []
        hw.pin_listeners.setdefault(pin_id, []).append(
            lambda level: [listener(self, level) for listener in list(self.listeners)])

    def drive(self, level: int | None) -> None:
        self.hw.drive(self.id, level)

    def value(self) -> int:
        return self.hw.pin(self.id).level()


def _trig_echo_module(hw: Hardware, distance: dict):
    """An HC-SR04 / JSN-SR04T (models.hcsr04) on the profile's TRIG and ECHO pins, seeing what
    the world's `distance_mm` hook gives at each ping."""
    from retrorun.devtools.models.hcsr04 import HCSR04Model

    variant = distance.get("variant", "jsn-sr04t" if distance["kind"] == "jsnsr04t" else "hcsr04")

    def target(now_us: int) -> int | None:
        mm = hw.distance_mm(now_us) if hw.distance_mm else None
        return None if mm is None else round(mm)

    hw.pin(distance["echo"])
    return HCSR04Model(hw, BoardPin(hw, distance["trig"]), BoardPin(hw, distance["echo"]),
                       variant=variant, target=target)

