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
# Every record is one frame: SYNC, kind, payload length n (0..255), payload, CRC-16 of
# kind+length+payload (CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF), little-endian.
# Layout and field meanings: docs/log-format.md.
LOG_FORMAT_VERSION = const(1)
LOG_SYNC = const(0xA5)
LOG_FRAME_HEAD_FMT = "<BBB"  # sync, kind, payload length
LOG_FRAME_HEAD_SIZE = const(3)
LOG_FRAME_CRC_FMT = "<H"
LOG_FRAME_CRC_SIZE = const(2)
LOG_FRAME_OVERHEAD = const(5)
LOG_PAYLOAD_MAX = const(255)
LOG_FILE_SUFFIX = ".rrl"  # /sessions/<6-digit id>.rrl
LOG_SYNCED_SUFFIX = ".syn"  # empty marker file: the host has this session

REC_HEADER = const(1)
REC_SAMPLES = const(2)
REC_EVENT = const(3)
REC_SNAPSHOT = const(4)
REC_FOOTER = const(5)
REC_NAMES = ("", "header", "samples", "event", "snapshot", "footer")

# Session header: format version, session id, start (Unix s, 0 = unknown), config hash,
# sample period ms; then firmware version and board name, each one length byte + ASCII.
LOG_HEADER_FMT = "<BIIIH"
LOG_HEADER_SIZE = const(15)
# Sample block: time of the first sample (ms since session start), steps total at it; then
# 1..LOG_BLOCK_SAMPLES entries. Entry: time step from the previous entry in 10 ms units (0 for
# the first), distance (mm, or 65536 + NO_READING/SENSOR_* code), alert level << 5 | steps
# since the previous entry (0..31), cadence (steps/min), trunk angle (tenths of a degree).
LOG_BLOCK_FMT = "<II"
LOG_BLOCK_SIZE = const(8)
LOG_ENTRY_FMT = "<BHBBh"
LOG_ENTRY_SIZE = const(7)
LOG_BLOCK_SAMPLES = const(12)
# Event: time ms, event type (EV_*), a (0..255), b (int32); meaning per type in docs.
LOG_EVENT_FMT = "<IBBi"
LOG_EVENT_SIZE = const(10)
# Snapshot part: time of the first reading ms, reading period ms, alert level that triggered
# it, part number; then the readings (coded like samples), each as the int8 change from the
# previous one, or LOG_SNAPSHOT_ESC followed by the "H" reading (always so for the first).
LOG_SNAPSHOT_FMT = "<IHBB"
LOG_SNAPSHOT_SIZE = const(8)
LOG_SNAPSHOT_ESC = const(0x80)
# Footer: duration ms, steps, max cadence, entries into notice/warning/stop/fault, minimum
# distance mm (65535 = none), sensor faults, flags (FOOTER_RECOVERED).
LOG_FOOTER_FMT = "<IIBHHHHHHB"
LOG_FOOTER_SIZE = const(22)
FOOTER_RECOVERED = const(1)
FOOTER_STORAGE_FULL = const(2)
LOG_DIST_NONE = const(65535)  # footer: no valid distance seen

EV_ALERT = const(1)  # a = new alert level, b = distance (mm or code)
EV_SENSOR = const(2)  # a = 1 fault began / 0 cleared, b = SENSOR_* code (or 0)
EV_BUTTON = const(3)  # a = 1 short, 2 long, 3 double press
EV_BATTERY = const(4)  # a = percent, b = millivolts
EV_STORAGE = const(5)  # a = 1 full (samples stopped) / 0 resumed, b = free KB (-1 unknown)
EV_CONFIG = const(6)  # a = 1 used last good copy / 2 used defaults, b = 0
EV_BOOT = const(7)  # a = 0 normal boot, b = 0
EV_RECOVERED = const(8)  # a = 0, b = bytes of torn tail dropped (written by boot recovery)
EV_POSTURE = const(9)  # a = 1 cue given / 0 posture back, b = trunk angle tenths of a degree
EV_NAMES = ("", "alert", "sensor", "button", "battery", "storage", "config", "boot",
            "recovered", "posture")
# (log section end)

# ---------------------------------------------------------------------------------------------
# Device API over the REPL (issue: logs / host workflow).
# ---------------------------------------------------------------------------------------------
# retrofw.api functions print one compact JSON line, except read(), which prints a header line
# "RRD <offset> <length> <crc32 hex>\n" then the bytes with 0x04 (ends raw-REPL output), CR,
# LF and API_ESC escaped as API_ESC + (byte ^ API_XOR). See docs/device-api.md.
API_VERSION = const(1)
API_READ_MAGIC = "RRD"
API_ESC = const(0x1B)
API_XOR = const(0x20)
API_READ_MAX = const(4096)  # largest read() chunk the device serves


API_ESCAPED = b"\x04\n\r\x1b"  # bytes that never appear raw in a read() payload


def api_escape(data):
    """Escape bytes for the raw REPL: 0x04 (ends the output), CR and LF (a console may turn
    LF into CR LF) and API_ESC itself become API_ESC, byte ^ API_XOR."""
    out = bytearray()
    esc = API_ESC
    xor = API_XOR
    for b in data:
        if b == 0x04 or b == 0x0A or b == 0x0D or b == esc:
            out.append(esc)
            out.append(b ^ xor)
        else:
            out.append(b)
    return out


def api_unescape(data):
    """Undo api_escape; raise ValueError on a dangling escape or a byte that cannot follow it."""
    data = bytes(data)
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        j = data.find(b"\x1b", i)
        if j < 0:
            out.extend(data[i:n])
            break
        out.extend(data[i:j])
        if j + 1 >= n:
            raise ValueError("dangling escape byte at the end of the data")
        c = data[j + 1] ^ API_XOR
        if c not in API_ESCAPED:
            raise ValueError("bad escape sequence at byte %d" % j)
        out.append(c)
        i = j + 2
    return bytes(out)


def api_read_header(offset, length, crc):
    """The header line read() prints before the escaped bytes."""
    return "%s %d %d %08x\n" % (API_READ_MAGIC, offset, length, crc & 0xFFFFFFFF)


def api_parse_read_header(line):
    """(offset, length, crc32) from a read() header line; ValueError if it is not one."""
    parts = line.strip().split()
    if len(parts) != 4 or parts[0] != API_READ_MAGIC:
        raise ValueError("not a read header: %r" % (line[:40],))
    return int(parts[1]), int(parts[2]), int(parts[3], 16)
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
VL53_REG_ROI_CENTRE = const(0x007F)  # ROI_CONFIG__USER_ROI_CENTRE_SPAD (199 = optical centre)
VL53_REG_ROI_SIZE = const(0x0080)  # (height - 1) << 4 | (width - 1), 4..16 SPADs each way
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
# Acceleration is exchanged in milli-g (mg), int16 per axis, clamped to +-16 g.
IMU_MG_LIMIT = const(16000)
IMU_RATE_MIN_HZ = const(25)  # steps.rate_hz range in the config schema
IMU_RATE_MAX_HZ = const(100)

# InvenSense MPU-6050 / MPU-6500 (register map RM-MPU-6000A, MPU-6500 register map).
MPU_ADDR = const(0x68)  # AD0 low; 0x69 with AD0 high
MPU6050_WHO_AM_I = const(0x68)
MPU6500_WHO_AM_I = const(0x70)
MPU_REG_SMPLRT_DIV = const(0x19)  # sample rate = 1 kHz / (1 + div) with the DLPF on
MPU_REG_CONFIG = const(0x1A)  # DLPF_CFG bits 2:0; FIFO_MODE bit 6 (6500: 1 = stop when full)
MPU_REG_ACCEL_CONFIG = const(0x1C)  # AFS_SEL bits 4:3: 0 +-2 g, 1 +-4 g, 2 +-8 g, 3 +-16 g
MPU_REG_ACCEL_CONFIG2 = const(0x1D)  # MPU-6500 only: A_DLPF_CFG bits 2:0
MPU_REG_FIFO_EN = const(0x23)  # ACCEL_FIFO_EN bit 3
MPU_REG_INT_STATUS = const(0x3A)  # FIFO_OFLOW_INT bit 4 (cleared on read), DATA_RDY bit 0
MPU_REG_ACCEL_XOUT_H = const(0x3B)  # 6 bytes, big-endian X, Y, Z
MPU_REG_USER_CTRL = const(0x6A)  # FIFO_EN bit 6, FIFO_RESET bit 2
MPU_REG_PWR_MGMT_1 = const(0x6B)  # DEVICE_RESET bit 7, SLEEP bit 6, CLKSEL bits 2:0
MPU_REG_FIFO_COUNTH = const(0x72)  # 2 bytes, big-endian byte count
MPU_REG_FIFO_R_W = const(0x74)  # burst reads stream the FIFO
MPU_REG_WHO_AM_I = const(0x75)
MPU6050_FIFO_BYTES = const(1024)
MPU6500_FIFO_BYTES = const(512)

# STMicroelectronics LSM6DS3 / LSM6DSO (datasheets DocID026899, DS12140).
LSM_ADDR = const(0x6A)  # SA0 low; 0x6B with SA0 high
LSM6DS3_WHO_AM_I = const(0x69)
LSM6DSO_WHO_AM_I = const(0x6C)
LSM_REG_WHO_AM_I = const(0x0F)
LSM_REG_CTRL1_XL = const(0x10)  # ODR_XL bits 7:4 (3 = 52 Hz, 4 = 104 Hz), FS_XL bits 3:2
LSM_REG_CTRL3_C = const(0x12)  # BOOT 7, BDU 6, IF_INC 2, SW_RESET 0
LSM_REG_OUTX_L_XL = const(0x28)  # 6 bytes, little-endian X, Y, Z
LSM_FS_16G = const(1)  # FS_XL codes: 0 +-2 g, 1 +-16 g, 2 +-4 g, 3 +-8 g
LSM_FS_8G = const(3)
# LSM6DS3 FIFO: untagged 16-bit words; reads of FIFO_DATA_OUT_L roll over within L/H.
LSM3_REG_FIFO_CTRL3 = const(0x08)  # DEC_FIFO_XL bits 2:0 (1 = no decimation)
LSM3_REG_FIFO_CTRL5 = const(0x0A)  # ODR_FIFO bits 6:3, FIFO_MODE bits 2:0 (6 = continuous)
LSM3_REG_FIFO_STATUS1 = const(0x3A)  # DIFF_FIFO[7:0], unread 16-bit words
LSM3_REG_FIFO_STATUS2 = const(0x3B)  # OVER_RUN bit 6, FIFO_EMPTY bit 4, DIFF_FIFO[11:8] bits 3:0
LSM3_REG_FIFO_DATA_OUT_L = const(0x3E)
LSM3_FIFO_WORDS = const(4096)  # 8 kbyte
# LSM6DSO FIFO: 7-byte tagged words; reads from FIFO_DATA_OUT_TAG roll over every 7 bytes.
LSMO_REG_FIFO_CTRL3 = const(0x09)  # BDR_XL bits 3:0 (3 = 52 Hz, 4 = 104 Hz)
LSMO_REG_FIFO_CTRL4 = const(0x0A)  # FIFO_MODE bits 2:0 (6 = continuous)
LSMO_REG_FIFO_STATUS1 = const(0x3A)  # DIFF_FIFO[7:0], unread words
LSMO_REG_FIFO_STATUS2 = const(0x3B)  # FIFO_OVR_IA bit 6, FIFO_OVR_LATCHED bit 3, DIFF[9:8] 1:0
LSMO_REG_FIFO_DATA_OUT_TAG = const(0x78)  # tag byte, then X, Y, Z little-endian
LSMO_TAG_XL = const(0x02)  # TAG_SENSOR (tag byte bits 7:3) of accelerometer words
LSMO_FIFO_WORDS = const(512)  # 3 kbyte of sample data: 512 tagged words
# (steps section end)

def check_sizes(namespace=None):
    """Return {format name: (calcsize, declared size)} for every *_FMT/*_SIZE pair here (or in
    `namespace`, a module's __dict__: retrofw.wire_ble)."""
    g = globals() if namespace is None else namespace
    out = {}
    for name in g:
        if name.endswith("_FMT"):
            base = name[:-4]
            out[base] = (struct.calcsize(g[name]), g.get(base + "_SIZE"))
    return out
