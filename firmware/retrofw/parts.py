"""The board's parts, built from its profile (/board.json): tables from a part's `kind` to
the driver that runs it, `boot`, which assembles the app from profile and settings, and
`start_ble`. Used by main.py for the safe-mode check and by the app at start-up only: the app
unloads it after."""

import json
import time

from machine import PWM, UART, Pin
from micropython import const

PROFILE_FILE = "/board.json"


def load_profile(path=PROFILE_FILE):
    with open(path) as f:
        return json.load(f)


def checked_profile(path=PROFILE_FILE):
    """The profile, validated by the same checker the laptop tool uses (ValueError naming the
    first wrong pin). The checker is unloaded again: it is only needed at boot."""
    from retrofw import boardcheck
    from retrofw.unload import unload

    profile = load_profile(path)
    try:
        for warning in boardcheck.validate(profile):
            print("retrorun: board warning:", warning)
    finally:
        boardcheck = None
        unload("retrofw.boardcheck")
    return profile


def boot(app_class):
    """Boot: check the board profile, load the settings, recover sessions a power loss cut
    short, build the app (`app_class(profile, values, fallback, config_hash)`). None when
    /board.json is missing or wrong (the board stays at the REPL to be fixed)."""
    from retrofw import settings
    from retrofw.store import SessionStore

    try:
        profile = checked_profile()
    except (OSError, ValueError) as exc:
        print("retrorun: cannot start:", exc, "- run 'retrorun deploy --board ...'")
        return None
    values, fallback, message = settings.load("/")
    if fallback:
        from retrofw import api

        print("retrorun: config fallback:", message)
        api.live["config_message"] = message  # `retrorun status` says why
    SessionStore("/", min_free_kb=int(values["storage.min_free_kb"])).recover_all()
    return app_class(profile, values, fallback, settings.config_hash(values))


def start_ble(config, on_config):
    """The GATT server, or None where the board has no Bluetooth or it does not fit. Nothing
    of the BLE code stays in RAM when it cannot run. A board without a radio never imports it:
    module objects are freed by unload(), the names they interned are not (bench heap)."""
    try:
        import bluetooth  # noqa: F401  # no radio: stop before any BLE module interns names

        from retrofw.ble import gatt

        return gatt.GattServer(**gatt.app_hooks("/", on_config), name=config["ble.name"])
    except (ImportError, OSError, MemoryError) as exc:
        import gc

        from retrofw.unload import unload

        # Warning the runner matters more than Bluetooth: on a plain ESP32 with the firmware as
        # .mpy files the BLE modules may not fit (docs/benchmarks.md); run without them.
        _radio_off()
        unload("retrofw.ble")
        gc.collect()
        print("retrorun: Bluetooth off:", exc)
        return None


def _radio_off():
    """Leave no half-started Bluetooth behind (radio on, IRQ handler set) when BLE fails."""
    try:
        import bluetooth

        bluetooth.BLE().active(False)
    except (ImportError, OSError, MemoryError):
        pass


def button_pin(profile):
    btn = profile["button"]
    if btn.get("pull", "up") == "up":
        return Pin(btn["pin"], Pin.IN, Pin.PULL_UP)
    return Pin(btn["pin"], Pin.IN)


def safe_mode_requested():
    """True when the button is held at boot: skip the app, keep the REPL for repairs."""
    try:
        profile = load_profile()
    except (OSError, ValueError):
        return False
    pin = button_pin(profile)
    active = 0 if profile["button"].get("active_low", True) else 1
    for _ in range(5):  # held for 50 ms, not a glitch
        if pin.value() != active:
            return False
        time.sleep_ms(10)
    return True


# ---------------------------------------------------------------------------------------------
# Hardware factories: board profile entry -> driver. Tables, not if-chains.
# ---------------------------------------------------------------------------------------------
_UART_RXBUF = const(512)  # UART receive buffer for the distance sensors, bytes (driver too)


def _uart(entry, baud):
    u = entry["uart"]
    return UART(u["id"], u.get("baud", baud), tx=u["tx"], rx=u["rx"], rxbuf=_UART_RXBUF)


def _make_hcsr04(entry, i2c):
    from retrofw.drivers.hcsr04 import HCSR04

    return HCSR04(Pin(entry["trig"], Pin.OUT, value=0), Pin(entry["echo"], Pin.IN),
                  variant=entry.get("variant", "hcsr04"), trig_us=entry.get("trig_us", 10),
                  irq=entry.get("timing") == "irq")


def _make_uart_ultrasonic(entry, i2c):
    from retrofw.drivers.uart_ultrasonic import UARTUltrasonic

    return UARTUltrasonic(_uart(entry, 9600), mode=entry.get("mode", "auto"))


def _make_vl53l1x(entry, i2c):
    from retrofw.drivers.vl53l1x import VL53L1X

    if "address" in entry:  # else the driver's default (0x29)
        return VL53L1X(i2c, address=entry["address"])
    return VL53L1X(i2c)


def _make_tfluna(entry, i2c):
    from retrofw.drivers.tfluna import TFLuna

    return TFLuna(_uart(entry, 115200), rxbuf=_UART_RXBUF)  # the driver must know its size


DISTANCE_FACTORIES = {
    "hcsr04": _make_hcsr04,
    "uart_ultrasonic": _make_uart_ultrasonic,
    "vl53l1x": _make_vl53l1x,
    "tfluna": _make_tfluna,
}


def _make_erm(entry, i2c):
    from retrofw.drivers.erm import ERM

    return ERM(PWM(Pin(entry["pin"]), freq=entry.get("freq", 20000), duty_u16=0))


def _make_drv2605(entry, i2c):
    """The DRV2605L. An LRA is auto-calibrated on its first boot (the driver finishes it from
    the haptics task) and the result kept in drv2605.CAL_FILE, written back on later boots; a
    missing or damaged file means calibrate again."""
    from retrofw.drivers import drv2605

    actuator = entry.get("actuator", "erm")
    cal = drv2605.load_calibration() if actuator == "lra" else None
    return drv2605.DRV2605(i2c, address=entry.get("address", 0x5A), actuator=actuator,
                           calibration=cal, cal_path=drv2605.CAL_FILE)


HAPTIC_FACTORIES = {"erm_pwm": _make_erm, "drv2605": _make_drv2605}


def _make_mpu(entry, i2c, rate_hz):
    from retrofw.drivers.mpu6050 import MPU6050

    return MPU6050(i2c, addr=entry.get("address", 0x68), rate_hz=rate_hz)


def _make_lsm(entry, i2c, rate_hz):
    from retrofw.drivers.lsm6ds import LSM6DS

    return LSM6DS(i2c, addr=entry.get("address", 0x6A), rate_hz=rate_hz)


IMU_FACTORIES = {"mpu6050": _make_mpu, "mpu6500": _make_mpu, "lsm6ds3": _make_lsm,
                 "lsm6dso": _make_lsm}
