"""Shared wire definitions: the one place for constants, struct formats, UUIDs and versions.

The firmware deploys this file and the laptop tool imports the very same file; nobody copies a
number from here by hand. Only what host and device share lives here (log records, device API,
alert levels, distance fault codes, part kinds, versions; BLE in wire_ble.py). Chip register
maps do not: each driver keeps its own as private `_NAME = const(...)` (no RAM on the device),
and the host's chip models have their own transcription from the datasheets. It imports only `struct` and `const` (with a CPython fallback), so it
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
EV_CONFIG = const(6)  # a = 0 ok / 1 last good copy / 2 defaults, b = alerts.MODES index
EV_BOOT = const(7)  # a = 0 normal boot, b = 0
EV_RECOVERED = const(8)  # a = 0, b = bytes of torn tail dropped (written by boot recovery)
EV_POSTURE = const(9)  # a = 1 cue given / 0 posture back, b = trunk angle tenths of a degree
EV_RANGE = const(10)  # a = 1 usable range reduced / 0 full again, b = usable range mm
EV_CLOCK = const(11)  # a = 0, b = Unix seconds the laptop set the clock to, at this event's time
EV_NAMES = ("", "alert", "sensor", "button", "battery", "storage", "config", "boot",
            "recovered", "posture", "range", "clock")
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
