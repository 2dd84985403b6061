"""Shared wire definitions of the Bluetooth LE side: 128-bit UUIDs, the Running Speed and
Cadence format and the control protocol (the rest is in `retrofw.wire`).

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

# retrorun control service (128-bit, our own base). Control: write-no-response + notify,
# framed messages; live: notify, LIVE_FMT (owner only). docs/ble.md.
UUID_RR_SERVICE = "5e7a0001-8d1c-4b5e-a4f2-72657472756e"
UUID_RR_CONTROL = "5e7a0002-8d1c-4b5e-a4f2-72657472756e"
UUID_RR_LIVE = "5e7a0003-8d1c-4b5e-a4f2-72657472756e"
CTL_VERSION = const(2)  # 2: link-bound session key, sealed messages, READ over control
# Each control packet: one byte CTL_PKT_START (first packet of a message) | sequence number
# (0..127, +1 per packet of the message), then message bytes. A message: CTL_HEAD_FMT (op,
# status, payload length) then the payload. A gap in sequence numbers drops the message.
CTL_PKT_START = const(0x80)
CTL_PKT_SEQ = const(0x7F)
CTL_HEAD_FMT = "<BBH"
CTL_HEAD_SIZE = const(4)
CTL_MSG_MAX = const(1024)  # largest message payload either side accepts
CTL_REPLY = const(0x80)  # op | CTL_REPLY in answers
CTL_HELLO = const(0x01)  # -> version B, has-secret B, device nonce (16), chip uid (the rest)
CTL_AUTH = const(0x02)  # host tag (32) + host nonce (16) -> device tag (32)
# Sealed (owner) messages: payload = counter (CTL_SEQ_FMT) + body + tag (CTL_TAG_SIZE), tag =
# HMAC-SHA256(session key, direction + op + status + counter + body)[:16]; the session key is
# HMAC-SHA256(secret, AUTH_KEY_LABEL + Nd + Nh). Requests count up from 1; an answer repeats
# its request's counter. A request with a wrong tag or a counter not above the last is refused.
CTL_STATUS = const(0x03)  # -> JSON status
CTL_SESSIONS = const(0x04)  # -> JSON list of sessions
CTL_CONFIG_GET = const(0x05)  # -> JSON config
CTL_CONFIG_SET = const(0x06)  # JSON {key: value} -> JSON config after the change
CTL_MARK_SYNCED = const(0x07)  # JSON session id -> JSON answer
CTL_FILE_HASH = const(0x08)  # session id (I) -> size I + SHA-256 (32)
CTL_READ = const(0x0A)  # CTL_READ_FMT -> CTL_DATA_FMT + bytes (at most CTL_READ_MAX)
CTL_READ_FMT = "<IIH"  # session id, offset, size
CTL_READ_SIZE = const(10)
CTL_DATA_FMT = "<II"  # offset, CRC-32 of the bytes that follow
CTL_DATA_SIZE = const(8)
CTL_READ_MAX = const(960)  # bytes per READ: one message with the head, counter and tag
CTL_SEQ_FMT = "<I"
CTL_SEQ_SIZE = const(4)
CTL_TAG_SIZE = const(16)
CTL_TO_DEVICE = b"\x01"  # direction byte of a request's tag
CTL_TO_HOST = b"\x02"  # direction byte of an answer's tag
CTL_OK = const(0)
CTL_ERR_NOT_AUTH = const(1)  # not authenticated on this connection: answer the challenge
CTL_ERR_BAD_TAG = const(2)  # wrong secret, no challenge open, or a message not sealed right
CTL_ERR_NO_SECRET = const(3)  # the device has no pairing secret: pair over USB first
CTL_ERR_LOCKED = const(4)  # too many wrong answers on this connection: reconnect
CTL_ERR_INVALID = const(5)  # bad request or value; payload says why
CTL_ERR_UNKNOWN = const(6)  # unknown op
CTL_ERR_FAILED = const(7)  # the device failed to do it; payload says why
CTL_ERR_CONFIRM = const(8)  # a change that weakens warnings waits for the device's button
CTL_ERR_BUSY = const(9)  # too many answers queued: ask again later
CTL_ERROR_NAMES = ("ok", "not authenticated", "refused", "device not paired",
                   "locked", "invalid request", "unknown command", "device error",
                   "press the button on the device to confirm", "busy")
CTL_AUTH_TIMEOUT_MS = const(30000)  # a second unauthenticated link is dropped after this
CTL_QUEUE_LINK = const(2)  # answers queued per link
CTL_QUEUE_BYTES = const(4096)  # answer bytes queued over all links
AUTH_NONCE_SIZE = const(16)
AUTH_TAG_SIZE = const(32)
AUTH_SECRET_SIZE = const(32)
AUTH_MAX_FAILURES = const(3)  # per connection
AUTH_HOST_LABEL = b"retrorun-auth-host"  # host tag = HMAC(secret, label + Nd + Nh)
AUTH_DEVICE_LABEL = b"retrorun-auth-device"  # device tag = HMAC(secret, label + Nd + Nh)
AUTH_KEY_LABEL = b"retrorun-session-key"  # session key = HMAC(secret, label + Nd + Nh)
BLE_SECRET_PATH = "/ble_secret"  # 32 raw bytes, written over USB by `retrorun pair`
# Live characteristic: distance mm (0xFFFF none), alert level (ALERT_*), sensor state (0 ok or
# a negative SENSOR_* / NO_READING code), cadence steps/min.
LIVE_FMT = "<HBbB"
LIVE_SIZE = const(5)
LIVE_NO_DISTANCE = const(0xFFFF)
