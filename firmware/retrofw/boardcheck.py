"""Board profile validator, shared by the device (at boot) and the laptop tool (before deploy).

A board profile (boards/*.json) names the chip and the GPIOs for every part. `check(profile)`
returns a list of problems, each a (level, message) pair where level is "error" or "warning";
`validate(profile)` raises ValueError naming the first error. Pin facts come from the Espressif
datasheets (ESP32 section 2.2 / ESP32-S3 section 2.3 / ESP32-C3 section 2.3, "Pin Overview"):
which GPIOs exist, which are input-only, which connect to the SPI flash, which are strapping
pins sampled at reset, and which have an ADC channel usable while the radio is on (ADC1).
"""

# Per chip: (valid GPIOs, input-only, flash/PSRAM, strapping, ADC1, USB D-/D+)
_CHIP_PINS = {
    "esp32": (
        tuple(range(0, 20)) + (21, 22, 23, 25, 26, 27) + tuple(range(32, 40)),
        (34, 35, 36, 37, 38, 39),
        (6, 7, 8, 9, 10, 11),
        (0, 2, 5, 12, 15),
        (32, 33, 34, 35, 36, 37, 38, 39),
        (),
    ),
    "esp32s3": (
        tuple(range(0, 22)) + tuple(range(26, 49)),
        (),
        (26, 27, 28, 29, 30, 31, 32),
        (0, 3, 45, 46),
        tuple(range(1, 11)),
        (19, 20),
    ),
    "esp32c3": (
        tuple(range(0, 22)),
        (),
        (12, 13, 14, 15, 16, 17),
        (2, 8, 9),
        (0, 1, 2, 3, 4),
        (18, 19),
    ),
}

# GPIOs that can wake the chip from deep sleep (RTC IO: esp32.wake_on_ext0/ext1). ESP32: the 18
# RTC GPIOs (ESP32 TRM, "RTC_MUX Pin List"); ESP32-S3: GPIO0-21 (TRM, RTC IO MUX); ESP32-C3:
# GPIO0-5 (deep-sleep GPIO wake-up; it has no ext0/ext1).
_RTC_PINS = {
    "esp32": (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39),
    "esp32s3": tuple(range(0, 22)),
    "esp32c3": tuple(range(0, 6)),
}

# Module variants with octal PSRAM (ESP32-S3 N8R8/N16R8, the XIAO ESP32S3's S3R8) wire the
# PSRAM to GPIO33-37 (ESP32-S3 datasheet, "Pin Assignment": SPIIO4-7, SPIDQS): profile
# "psram": "octal" reserves them.
_OCTAL_PSRAM_PINS = {"esp32s3": (33, 34, 35, 36, 37)}

# The REPL UART (UART0) pins, (TX, RX): the esp32 port leaves UART0 on its IO_MUX pins
# (ports/esp32/machine_uart.c, UART_NUM_0: UART_PIN_NO_CHANGE) and its receive interrupt feeds
# every byte to the REPL, 0x03 raising KeyboardInterrupt (ports/esp32/uart.c; ESP32_GENERIC_S3
# enables it, boards/ESP32_GENERIC_S3/mpconfigboard.h). Pins from the datasheets' "Pin
# Overview": ESP32 U0TXD GPIO1 / U0RXD GPIO3, ESP32-S3 GPIO43 / GPIO44, ESP32-C3 GPIO21 / GPIO20.
# A sensor UART there talks to the REPL until the app claims the pins (and hears its output).
_REPL_UART_PINS = {"esp32": (1, 3), "esp32s3": (43, 44), "esp32c3": (21, 20)}

REQUIRED_KEYS = ("name", "title", "chip", "flash_size_mb", "micropython", "distance", "haptic",
                 "imu", "button", "battery", "led")
# Keys whose value is a JSON object (checked before anything looks inside them).
_PART_KEYS = ("micropython", "i2c", "distance", "haptic", "imu", "button", "battery", "led")

# Which pin fields of which part drive the pin (output) and which only read it (input).
# "io" pins (I2C SDA/SCL) need an output driver too (open drain).
_OUT = "out"
_IN = "in"
_IO = "io"
_ADC = "adc"


def _pins_of(profile):
    """List (part, field, gpio, direction) for every pin the profile uses."""
    uses = []
    i2c = profile.get("i2c")
    if isinstance(i2c, dict):
        uses.append(("i2c", "sda", i2c.get("sda"), _IO))
        uses.append(("i2c", "scl", i2c.get("scl"), _IO))
    dist = profile.get("distance") or {}
    kind = dist.get("kind")
    if kind == "hcsr04":
        uses.append(("distance", "trig", dist.get("trig"), _OUT))
        uses.append(("distance", "echo", dist.get("echo"), _IN))
    elif kind in ("uart_ultrasonic", "tfluna"):
        uart = dist.get("uart") or {}
        uses.append(("distance", "uart.tx", uart.get("tx"), _OUT))
        uses.append(("distance", "uart.rx", uart.get("rx"), _IN))
    hap = profile.get("haptic") or {}
    if hap.get("kind") == "erm_pwm":
        uses.append(("haptic", "pin", hap.get("pin"), _OUT))
    btn = profile.get("button") or {}
    uses.append(("button", "pin", btn.get("pin"), _IN))
    bat = profile.get("battery") or {}
    uses.append(("battery", "adc", bat.get("adc"), _ADC))
    led = profile.get("led") or {}
    uses.append(("led", "pin", led.get("pin"), _OUT))
    return uses


def check(profile):
    """Return a list of (level, message) problems; an empty list means the profile is good."""
    problems = []
    if not isinstance(profile, dict):
        return [("error", "profile is not a JSON object")]
    name = profile.get("name", "?")
    for key in REQUIRED_KEYS:
        if key not in profile:
            problems.append(("error", "%s: missing key '%s'" % (name, key)))
    for key in _PART_KEYS:
        if key in profile and not isinstance(profile[key], dict):
            problems.append(("error", "%s: '%s' must be a JSON object, got %r"
                             % (name, key, profile[key])))
    if problems:
        return problems
    chip = profile.get("chip")
    if not isinstance(chip, str) or chip not in _CHIP_PINS:
        problems.append(("error", "%s: chip '%s' is not one of %s"
                         % (name, chip, ", ".join(sorted(_CHIP_PINS)))))
        return problems
    valid, input_only, flash, strapping, adc1, usb = _CHIP_PINS[chip]
    psram = profile.get("psram", "none")
    if psram not in ("none", "quad", "octal") or (psram == "octal"
                                                    and chip not in _OCTAL_PSRAM_PINS):
        problems.append(("error", "%s: psram '%s' is not one of none, quad%s"
                         % (name, psram, ", octal" if chip in _OCTAL_PSRAM_PINS else "")))
    elif psram == "octal":
        flash = flash + _OCTAL_PSRAM_PINS[chip]
    _check_kinds(profile, name, problems)
    needs_i2c = ((profile.get("distance") or {}).get("kind") == "vl53l1x"
                 or (profile.get("haptic") or {}).get("kind") == "drv2605"
                 or "imu" in profile)
    if needs_i2c and not isinstance(profile.get("i2c"), dict):
        problems.append(("error", "%s: an I2C part is configured but 'i2c' (sda, scl) is missing"
                         % name))
    seen = {}
    for part, field, pin, direction in _pins_of(profile):
        where = "%s: %s.%s" % (name, part, field)
        if not isinstance(pin, int) or isinstance(pin, bool):
            problems.append(("error", "%s must be a GPIO number, got %r" % (where, pin)))
            continue
        if pin not in valid:
            problems.append(("error", "%s: GPIO%d does not exist on %s" % (where, pin, chip)))
            continue
        if pin in flash:
            problems.append(("error", "%s: GPIO%d is wired to the SPI flash or PSRAM on %s; pick another pin"
                             % (where, pin, chip)))
        if pin in input_only and direction in (_OUT, _IO):
            problems.append(("error", "%s: GPIO%d is input-only on %s and cannot drive %s"
                             % (where, pin, chip, field)))
        if direction == _ADC and pin not in adc1:
            problems.append(("error", "%s: GPIO%d has no ADC1 channel on %s (ADC2 is unusable "
                             "while the radio is on)" % (where, pin, chip)))
        if part == "button" and pin not in _RTC_PINS[chip]:
            problems.append(("error", "%s: GPIO%d cannot wake %s from deep sleep (not an RTC "
                             "GPIO); wire the button to one of %s" % (
                                 where, pin, chip, ", ".join(str(p) for p in _RTC_PINS[chip]))))
        if part == "distance" and field.startswith("uart.") and pin in _REPL_UART_PINS[chip]:
            problems.append(("error", "%s: GPIO%d is %s of the REPL UART (UART0) on %s: the "
                             "sensor's bytes reach the REPL until the app claims the pin (0x03 "
                             "interrupts it); wire the sensor to other pins" % (
                                 where, pin, "RX" if pin == _REPL_UART_PINS[chip][1] else "TX",
                                 chip)))
        if pin in strapping:
            problems.append(("warning", "%s: GPIO%d is a strapping pin on %s; keep it at its "
                             "default level during reset" % (where, pin, chip)))
        if pin in usb:
            problems.append(("warning", "%s: GPIO%d is the native USB pin on %s; USB serial will "
                             "stop working" % (where, pin, chip)))
        other = seen.get(pin)
        if other is not None:
            problems.append(("error", "%s: GPIO%d is already used by %s" % (where, pin, other)))
        else:
            seen[pin] = "%s.%s" % (part, field)
    flash_mb = profile.get("flash_size_mb")
    if not isinstance(flash_mb, int) or flash_mb < 4:
        problems.append(("error", "%s: flash_size_mb must be a whole number >= 4, got %r"
                         % (name, flash_mb)))
    return problems


def _check_kinds(profile, name, problems):
    from retrofw.wire import DISTANCE_KINDS, HAPTIC_KINDS, IMU_KINDS

    for part, kinds in (("distance", DISTANCE_KINDS), ("haptic", HAPTIC_KINDS),
                        ("imu", IMU_KINDS)):
        entry = profile.get(part)
        if isinstance(entry, dict) and entry.get("kind") not in kinds:
            problems.append(("error", "%s: %s.kind '%s' is not one of %s"
                             % (name, part, entry.get("kind"), ", ".join(kinds))))
    dist = profile.get("distance")
    if isinstance(dist, dict) and dist.get("kind") == "hcsr04":
        _check_echo(dist, name, problems)


# TRIG pulse: the HC-SR04 and JSN-SR04T datasheets ask for >= 10 us; longer suits slow clones,
# and the driver busy-waits that long on every reading
TRIG_US_RANGE = (10, 200)


def _check_echo(dist, name, problems):
    timing = dist.get("timing", "pulse")
    if timing not in ("pulse", "irq"):
        problems.append(("error", "%s: distance.timing '%s' is not pulse or irq (pulse: "
                         "machine.time_pulse_us, accurate; irq: scheduled pin interrupts, "
                         "never waits, less accurate)" % (name, timing)))
    trig_us = dist.get("trig_us", TRIG_US_RANGE[0])
    lo, hi = TRIG_US_RANGE
    if not isinstance(trig_us, int) or isinstance(trig_us, bool) or not lo <= trig_us <= hi:
        problems.append(("error", "%s: distance.trig_us %r is not %d-%d; the module needs a "
                         "TRIG pulse of at least %d us" % (name, trig_us, lo, hi, lo)))


def validate(profile):
    """Raise ValueError naming the first error; return the list of warnings otherwise."""
    problems = check(profile)
    for level, message in problems:
        if level == "error":
            raise ValueError(message)
    return [message for level, message in problems]
