"""Shared wire definitions of the Bluetooth LE side: 128-bit UUIDs, the Running Speed and
Cadence format, the file-transfer and control protocols (the rest is in `retrofw.wire`).

A module of its own so that a board running without Bluetooth does not hold these ~100 names in
RAM (`retrorun bench heap`). Like `wire`, the firmware deploys it and the laptop tool imports the
very same file; it imports only `const` (with a CPython fallback). Its struct sizes are checked
by `retrofw.wire.check_sizes(retrofw.wire_ble.__dict__)`.
"""

try:
    from micropython import const
except ImportError:  # CPython: const() is the identity

    def const(x):
        return x


# Running Speed and Cadence (GATT specification, RSC service 1.0). Measurement (0x2A53):
# flags (B), instantaneous speed (H, 1/256 m/s), instantaneous cadence (B, steps/min), then
# stride length (H, 1/100 m) if flag bit 0, total distance (I, 1/10 m) if flag bit 1.
RSC_FLAG_STRIDE = const(0x01)  # instantaneous stride length present
RSC_FLAG_DISTANCE = const(0x02)  # total distance present
RSC_FLAG_RUNNING = const(0x04)  # walking or running status: 0 walking, 1 running
RSC_MEAS_FMT = "<BHB"
RSC_MEAS_SIZE = const(4)
RSC_MEAS_MAX = const(10)  # with stride length and total distance
# RSC Feature (0x2A54, uint16): what this sensor can report.
RSC_FEAT_STRIDE = const(0x0001)
RSC_FEAT_DISTANCE = const(0x0002)
RSC_FEAT_RUNNING = const(0x0004)
RSC_FEAT_CALIBRATION = const(0x0008)
RSC_FEAT_MULTI_LOCATION = const(0x0010)
RSC_FEATURE_FMT = "<H"
RSC_FEATURE_SIZE = const(2)

BLE_NAME_PREFIX = "retrorun-"  # advertised name: retrorun-XXXX (last two MAC bytes, hex)
BLE_PAYLOAD_MIN = const(20)  # ATT_MTU 23 - 3
BLE_PAYLOAD_MAX = const(244)  # ATT_MTU 247 - 3 (one LL packet with data length extension)

# Adafruit BLE File Transfer, protocol version 4 (adafruit_ble_file_transfer 4.x). Service
# 0xFEBB; characteristics are 16-bit numbers inside the base "adafXXXX-4669-6c65-5472-
# 616e73666572" ("FileTransfer"). Formats: the client's, with its pad bytes "x" written as
# "B" (MicroPython's struct has no "x"); sizes are those on the wire.
UUID_FT_SERVICE = const(0xFEBB)
UUID_FT_VERSION = "adaf0100-4669-6c65-5472-616e73666572"  # uint32, read: FT_VERSION
UUID_FT_TRANSFER = "adaf0200-4669-6c65-5472-616e73666572"  # write-no-response + notify
FT_VERSION = const(4)
FT_READ = const(0x10)
FT_READ_DATA = const(0x11)
FT_READ_PACING = const(0x12)
FT_WRITE = const(0x20)
FT_WRITE_PACING = const(0x21)
FT_WRITE_DATA = const(0x22)
FT_DELETE = const(0x30)
FT_DELETE_STATUS = const(0x31)
FT_MKDIR = const(0x40)
FT_MKDIR_STATUS = const(0x41)
FT_LISTDIR = const(0x50)
FT_LISTDIR_ENTRY = const(0x51)
FT_MOVE = const(0x60)
FT_MOVE_STATUS = const(0x61)
FT_OK = const(0x01)
FT_ERROR = const(0x02)  # refused: not authenticated, outside the sessions folder, I/O error
FT_ERROR_NO_FILE = const(0x03)
FT_ERROR_PROTOCOL = const(0x04)
FT_FLAG_DIRECTORY = const(0x01)
FT_READ_FMT = "<BBHII"  # READ, 0, path length, offset, chunk size; then the path
FT_READ_SIZE = const(12)
FT_READ_DATA_FMT = "<BBHIII"  # READ_DATA, status, 0, offset, total length, chunk length
FT_READ_DATA_SIZE = const(16)
FT_PACING_FMT = "<BBHII"  # READ_PACING / WRITE_DATA: cmd, status, 0, offset, size
FT_PACING_SIZE = const(12)
FT_WRITE_FMT = "<BBHIQI"  # WRITE, 0, path length, offset, mtime ns, total length; path
FT_WRITE_SIZE = const(20)
FT_WRITE_PACING_FMT = "<BBHIQI"  # WRITE_PACING, status, 0, offset, mtime ns, free space
FT_WRITE_PACING_SIZE = const(20)
FT_PATH_CMD_FMT = "<BBH"  # DELETE / LISTDIR: cmd, 0, path length; then the path
FT_PATH_CMD_SIZE = const(4)
FT_MKDIR_FMT = "<BBHIQ"  # MKDIR, 0, path length, 0, mtime ns; then the path
FT_MKDIR_SIZE = const(16)
FT_MKDIR_STATUS_FMT = "<BBHIQ"  # MKDIR_STATUS, status, 0, 0, mtime ns
FT_MKDIR_STATUS_SIZE = const(16)
FT_STATUS_FMT = "<BB"  # DELETE_STATUS / MOVE_STATUS: cmd, status
FT_STATUS_SIZE = const(2)
FT_MOVE_FMT = "<BBHH"  # MOVE, 0, old length, new length; then old + b" " + new
FT_MOVE_SIZE = const(6)
FT_LISTDIR_ENTRY_FMT = "<BBHIIIQI"  # cmd, status, path length, i, total, flags, mtime, size
FT_LISTDIR_ENTRY_SIZE = const(28)
FT_CLIENT_CHUNK = const(490)  # what adafruit_ble_file_transfer asks for per READ chunk

# retrorun control service (128-bit, our own base). Control: write-no-response + notify,
# framed messages; live: notify/read, LIVE_FMT; both owner-only (docs/ble.md).
UUID_RR_SERVICE = "5e7a0001-8d1c-4b5e-a4f2-72657472756e"
UUID_RR_CONTROL = "5e7a0002-8d1c-4b5e-a4f2-72657472756e"
UUID_RR_LIVE = "5e7a0003-8d1c-4b5e-a4f2-72657472756e"
# Each control packet: one byte CTL_PKT_START (first packet of a message) | sequence number
# (0..127, +1 per packet of the message), then message bytes. A message: CTL_HEAD_FMT (op,
# status, payload length) then the payload. A gap in sequence numbers drops the message.
CTL_PKT_START = const(0x80)
CTL_PKT_SEQ = const(0x7F)
CTL_HEAD_FMT = "<BBH"
CTL_HEAD_SIZE = const(4)
CTL_MSG_MAX = const(1024)  # largest message payload either side accepts
CTL_REPLY = const(0x80)  # op | CTL_REPLY in answers
CTL_HELLO = const(0x01)  # -> version B, has-secret B, device nonce; opens the challenge
CTL_AUTH = const(0x02)  # host tag (32) + host nonce (16) -> device tag (32)
CTL_STATUS = const(0x03)  # -> JSON status
CTL_SESSIONS = const(0x04)  # -> JSON list of sessions
CTL_CONFIG_GET = const(0x05)  # -> JSON config
CTL_CONFIG_SET = const(0x06)  # JSON {key: value} -> JSON config after the change
CTL_MARK_SYNCED = const(0x07)  # JSON session id -> JSON answer
CTL_FILE_HASH = const(0x08)  # session name -> size I + SHA-256 (32)
CTL_WHY = const(0x09)  # -> why the last file-transfer request was refused (UTF-8)
CTL_OK = const(0)
CTL_ERR_NOT_AUTH = const(1)  # not authenticated on this connection: answer the challenge
CTL_ERR_BAD_TAG = const(2)  # wrong secret (or no challenge open)
CTL_ERR_NO_SECRET = const(3)  # the device has no pairing secret: pair over USB first
CTL_ERR_LOCKED = const(4)  # too many wrong answers on this connection: reconnect
CTL_ERR_INVALID = const(5)  # bad request or value; payload says why
CTL_ERR_UNKNOWN = const(6)  # unknown op
CTL_ERR_FAILED = const(7)  # the device failed to do it; payload says why
CTL_ERROR_NAMES = ("ok", "not authenticated", "wrong secret", "device not paired",
                   "locked", "invalid request", "unknown command", "device error")
AUTH_NONCE_SIZE = const(16)
AUTH_TAG_SIZE = const(32)
AUTH_SECRET_SIZE = const(32)
AUTH_MAX_FAILURES = const(3)  # per connection
AUTH_HOST_LABEL = b"retrorun-auth-host"  # host tag = HMAC(secret, label + Nd + Nh)
AUTH_DEVICE_LABEL = b"retrorun-auth-device"  # device tag = HMAC(secret, label + Nd + Nh)
BLE_SECRET_PATH = "/ble_secret"  # 32 raw bytes, written over USB by `retrorun pair`
# Live characteristic: distance mm (0xFFFF none), alert level (ALERT_*), sensor state (0 ok or
# a negative SENSOR_* / NO_READING code), cadence steps/min.
LIVE_FMT = "<HBbB"
LIVE_SIZE = const(5)
LIVE_NO_DISTANCE = const(0xFFFF)
