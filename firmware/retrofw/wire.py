"""Shared wire definitions: the one place for constants, struct formats, UUIDs and versions.

The firmware deploys this file and the laptop tool imports the very same file; nobody copies a
number from here by hand. It imports only `struct` and `const` (with a CPython fallback), so it
loads on both runtimes. Struct formats use only the codes MicroPython supports and carry their
size next to them; tests assert `struct.calcsize(FMT) == SIZE` under both runtimes.
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython: const() is the identity

    def const(x):
        return x


# Version of the wire formats (log records, device API answers, BLE control protocol).
# Bump it when a format changes incompatibly; readers refuse versions they do not know.
PROTOCOL_VERSION = const(1)

# ---------------------------------------------------------------------------------------------
# Alert levels: what the runner feels. Ordered by urgency; FAULT means "I cannot see".
# ---------------------------------------------------------------------------------------------
ALERT_CLEAR = const(0)
ALERT_NOTICE = const(1)
ALERT_WARNING = const(2)
ALERT_STOP = const(3)
ALERT_FAULT = const(4)
ALERT_NAMES = ("clear", "notice", "warning", "stop", "fault")

# ---------------------------------------------------------------------------------------------
# Distance readings. A distance driver's measure() returns one int: a distance in millimetres
# (>= 0), NO_READING (the sensor works but sees nothing it trusts: out of range, weak echo), or
# a negative SENSOR_* fault code (the sensor cannot see; the runner must be told).
# ---------------------------------------------------------------------------------------------
NO_READING = const(-1)
SENSOR_NO_ACK = const(-2)  # bus device does not answer (unplugged, I2C NACK)
SENSOR_BAD_FRAME = const(-3)  # checksum or framing error on a UART/I2C answer
SENSOR_STUCK = const(-4)  # echo line stuck high/low, or measurement never completes
SENSOR_BLINDED = const(-5)  # saturation, sunlight or ambient overload reported by the chip
SENSOR_FROZEN = const(-6)  # the same raw value for too long: the sensor is not updating
SENSOR_TIMEOUT = const(-7)  # no data arrived within the expected period (UART silent)
SENSOR_FAULT_NAMES = ("", "no_reading", "no_ack", "bad_frame", "stuck", "blinded", "frozen",
                      "timeout")  # index by -code
DISTANCE_MAX_MM = const(65000)  # largest distance a record can carry (fits "H")

# ---------------------------------------------------------------------------------------------
# Sensor, haptic and IMU kinds named in board profiles (boards/*.json).
# ---------------------------------------------------------------------------------------------
DISTANCE_KINDS = ("hcsr04", "uart_ultrasonic", "vl53l1x", "tfluna")
HAPTIC_KINDS = ("erm_pwm", "drv2605")
IMU_KINDS = ("mpu6050", "mpu6500", "lsm6ds3", "lsm6dso")
CHIPS = ("esp32", "esp32s3", "esp32c3")

# ---------------------------------------------------------------------------------------------
# Bluetooth LE UUIDs (16-bit SIG-assigned numbers from the Assigned Numbers document).
# ---------------------------------------------------------------------------------------------
UUID_RSC_SERVICE = const(0x1814)  # Running Speed and Cadence
UUID_RSC_MEASUREMENT = const(0x2A53)
UUID_RSC_FEATURE = const(0x2A54)
UUID_BATTERY_SERVICE = const(0x180F)
UUID_BATTERY_LEVEL = const(0x2A19)

# ---------------------------------------------------------------------------------------------
# Session log records (issue: logs). Owned by logfmt.py; formats and sizes live here.
# ---------------------------------------------------------------------------------------------
# (log section end)

# ---------------------------------------------------------------------------------------------
# Device API over the REPL (issue: logs / host workflow).
# ---------------------------------------------------------------------------------------------
# (api section end)

# ---------------------------------------------------------------------------------------------
# Sensor frames and chip constants shared by drivers and host chip models (issue: obstacles).
# ---------------------------------------------------------------------------------------------
# (obstacles section end)

# ---------------------------------------------------------------------------------------------
# IMU / steps constants shared by drivers and host chip models (issue: steps).
# ---------------------------------------------------------------------------------------------
# (steps section end)

# ---------------------------------------------------------------------------------------------
# BLE: 128-bit UUIDs, file-transfer and control protocol (issue: BLE).
# ---------------------------------------------------------------------------------------------
# (ble section end)


def check_sizes():
    """Return {format name: (calcsize, declared size)} for every *_FMT/*_SIZE pair here."""
    g = globals()
    out = {}
    for name in g:
        if name.endswith("_FMT"):
            base = name[:-4]
            out[base] = (struct.calcsize(g[name]), g.get(base + "_SIZE"))
    return out
