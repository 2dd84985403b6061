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
# Facts and their sources: docs/drivers.md. Names prefixed by chip: US_ (trigger/echo
# ultrasonic), UUS_ (UART ultrasonic), TFL_ (TF-Luna), VL53_ (VL53L1X), DRV_ (DRV2605L).
# Ultrasonic trigger/echo (HC-SR04, JSN-SR04T mode 1): a >= 10 us TRIG pulse starts a burst of
# 8 x 40 kHz; ECHO is high for the round-trip time (58 us per cm at 20 C) or, with no echo, for
# about 38 ms (HC-SR04) / 60 ms (JSN-SR04T) before it falls.
US_TRIG_US = const(10)
US_US_PER_CM = const(58)
US_SOUND_MM_S_0C = const(331300)  # speed of sound in air: 331.3 m/s + 0.606 m/s per degree C
US_SOUND_MM_S_PER_C = const(606)
US_NO_ECHO_US_HCSR04 = const(38000)
US_NO_ECHO_US_JSN = const(60000)
# UART ultrasonic (A02YYUW, JSN-SR04T mode 2/3, AJ-SR04M serial modes), 9600 8N1, 4-byte frame:
# 0xFF, distance high, distance low (mm), checksum = (0xFF + high + low) & 0xFF.
UUS_BAUD = const(9600)
UUS_HEADER = const(0xFF)
UUS_FRAME_SIZE = const(4)
UUS_TRIGGER_JSN = const(0x55)  # JSN-SR04T mode 3: one byte on RX starts one measurement
UUS_TRIGGER_AJ = const(0x01)  # AJ-SR04M serial-trigger mode
# TF-Luna, 115200 8N1, 9-byte frame: 0x59 0x59 DistL DistH AmpL AmpH TempL TempH checksum
# (low 8 bits of the sum of bytes 0..7). Dist in cm (default format); Amp < 100 or == 65535
# (overexposure) means Dist is unreliable; Temp: degrees C = Temp / 8 - 256.
TFL_BAUD = const(115200)
TFL_HEADER = const(0x59)
TFL_FRAME_SIZE = const(9)
TFL_AMP_MIN = const(100)
TFL_AMP_OVEREXPOSED = const(65535)
TFL_CMD_HEADER = const(0x5A)  # command: 0x5A, length, id, payload, checksum
TFL_ID_SAMPLE_FREQ = const(0x03)
# VL53L1X: I2C address 0x29, 16-bit register addresses, big-endian values.
VL53_ADDR = const(0x29)
VL53_MODEL_ID = const(0xEACC)  # IDENTIFICATION__MODEL_ID (0x010F) and MODULE_TYPE (0x0110)
VL53_REG_SOFT_RESET = const(0x0000)
VL53_REG_VHV_LOOP_BOUND = const(0x0008)
VL53_REG_VHV_START = const(0x000B)
VL53_REG_GPIO_HV_MUX_CTRL = const(0x0030)  # bit 4: interrupt polarity (0 = active high)
VL53_REG_GPIO_TIO_HV_STATUS = const(0x0031)  # bit 0 == polarity: new range data ready
VL53_REG_PHASECAL_TIMEOUT = const(0x004B)
VL53_REG_TIMEOUT_A = const(0x005E)  # RANGE_CONFIG__TIMEOUT_MACROP_A_HI (16 bits)
VL53_REG_VCSEL_PERIOD_A = const(0x0060)
VL53_REG_TIMEOUT_B = const(0x0061)
VL53_REG_VCSEL_PERIOD_B = const(0x0063)
VL53_REG_VALID_PHASE_HIGH = const(0x0069)
VL53_REG_INTERMEASUREMENT = const(0x006C)  # 32 bits, in oscillator ticks
VL53_REG_WOI_SD0 = const(0x0078)
VL53_REG_INITIAL_PHASE_SD0 = const(0x007A)
VL53_REG_INTERRUPT_CLEAR = const(0x0086)
VL53_REG_MODE_START = const(0x0087)  # 0x40 start continuous ranging, 0x00 stop
VL53_REG_RESULT = const(0x0089)  # RESULT__RANGE_STATUS; the block read spans 0x89..0x99
VL53_RESULT_SIZE = const(17)
VL53_REG_OSC_CALIBRATE = const(0x00DE)  # low 10 bits: oscillator ticks per ms
VL53_REG_SYSTEM_STATUS = const(0x00E5)  # bit 0: firmware booted
VL53_REG_MODEL_ID = const(0x010F)
VL53_REG_CONFIG_START = const(0x002D)  # the default configuration block starts here
VL53_START_RANGING = const(0x40)
# ST's ultra-lite driver default configuration, registers 0x2D..0x87 (91 bytes; the last byte
# is written as 0x00 here so that loading it does not start ranging by itself).
VL53_DEFAULT_CONFIG = (
    b"\x00\x00\x00\x01\x02\x00\x02\x08\x00\x08\x10\x01\x01\x00\x00\x00\x00\xff\x00\x0f"
    b"\x00\x00\x00\x00\x00\x20\x0b\x00\x00\x02\x0a\x21\x00\x00\x05\x00\x00\x00\x00\xc8"
    b"\x00\x00\x38\xff\x01\x00\x08\x00\x00\x01\xdb\x0f\x01\xf1\x0d\x01\x68\x00\x80\x08"
    b"\xb8\x00\x00\x00\x00\x0f\x89\x00\x00\x00\x00\x00\x00\x00\x01\x0f\x0d\x0e\x0e\x00"
    b"\x00\x02\xc7\xff\x9b\x00\x00\x00\x01\x01\x00")
# Raw RESULT__RANGE_STATUS & 0x1F -> ULD range status (0 valid, 1 sigma fail, 2 signal fail,
# 3 below minimum range (clipped), 4 phase out of bounds, 5 hardware/VCSEL fail, 7 wrap-around,
# 255 unknown). Indexed by the raw code (0..23).
VL53_STATUS_MAP = (b"\xff\xff\xff\x05\x02\x04\x01\x07\x03\x00\xff\xff\x09\x0d\xff\xff\xff\xff"
                   b"\x0a\x06\xff\xff\x0b\x0c")
# Long distance mode: timing budget ms -> (TIMEOUT_MACROP_A, TIMEOUT_MACROP_B).
VL53_LONG_BUDGETS = ((20, 0x001E, 0x0022), (33, 0x0060, 0x006E), (50, 0x00AD, 0x00C6),
                     (100, 0x01CC, 0x01EA), (200, 0x02D9, 0x02F8), (500, 0x048F, 0x04A4))
# DRV2605L haptic driver, I2C address 0x5A, 8-bit registers.
DRV_ADDR = const(0x5A)
DRV_REG_STATUS = const(0x00)  # bits 7:5 DEVICE_ID (3 DRV2605, 7 DRV2605L), 1 OVER_TEMP, 0 OC
DRV_REG_MODE = const(0x01)  # bit 7 DEV_RESET, bit 6 STANDBY, bits 2:0 mode
DRV_REG_RTP_INPUT = const(0x02)
DRV_REG_LIBRARY = const(0x03)  # bits 2:0: 1..5 and 7 ERM libraries A..F, 6 LRA library
DRV_REG_WAVESEQ1 = const(0x04)  # 0x04..0x0B: 8 sequencer slots, 0 ends the sequence
DRV_REG_GO = const(0x0C)
DRV_REG_FEEDBACK = const(0x1A)  # bit 7 N_ERM_LRA: 1 = LRA
DRV_REG_CONTROL3 = const(0x1D)  # bit 5 ERM_OPEN_LOOP, bit 3 DATA_FORMAT_RTP (1 = unsigned)
DRV_IDS = (3, 7)  # DEVICE_ID values of parts with the licensed effect library
DRV_MODE_INTERNAL = const(0)
DRV_MODE_RTP = const(5)
DRV_MODE_STANDBY = const(0x40)
DRV_LIBRARY_LRA = const(6)
DRV_EFFECT_MAX = const(123)
DRV_SEQ_SLOTS = const(8)
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
