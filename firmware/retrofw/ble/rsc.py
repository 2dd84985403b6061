"""Running Speed and Cadence (RSC) values, encoded per the GATT specification.

RSC Measurement (0x2A53), little-endian:
  flags  uint8   bit 0 instantaneous stride length present, bit 1 total distance present,
                 bit 2 walking (0) or running (1)
  speed  uint16  instantaneous speed, 1/256 m/s (0..255.99 m/s)
  cadence uint8  instantaneous cadence, steps per minute (0..255)
  stride uint16  instantaneous stride length, 1/100 m (0..655.35 m)   if flags bit 0
  total  uint32  total distance, 1/10 m (0..429 496 729.5 m)           if flags bit 1
RSC Feature (0x2A54): uint16 bit field of what the sensor supports (RSC_FEAT_*).

Encoding is pure and allocation-free: it writes into a buffer made once and returns the number
of bytes used; the caller notifies `memoryview(buf)[:n]`. Values are integers in the wire units
above (the caller converts, e.g. speed_256 = mm_per_s * 256 // 1000); out-of-range values are
clamped to the field, never wrapped.
"""

import struct

from retrofw.wire_ble import (
    RSC_FEAT_DISTANCE,
    RSC_FEAT_RUNNING,
    RSC_FEAT_STRIDE,
    RSC_FEATURE_FMT,
    RSC_FEATURE_SIZE,
    RSC_FLAG_DISTANCE,
    RSC_FLAG_RUNNING,
    RSC_FLAG_STRIDE,
    RSC_MEAS_FMT,
    RSC_MEAS_MAX,
    RSC_MEAS_SIZE,
)

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_U8 = const(0xFF)
_U16 = const(0xFFFF)
_U32 = const(0xFFFFFFFF)

# What retrorun reports: stride length and total distance (from steps), and walking/running.
FEATURES = RSC_FEAT_STRIDE | RSC_FEAT_DISTANCE | RSC_FEAT_RUNNING


def _clamp(value, top):
    if value < 0:
        return 0
    if value > top:
        return top
    return value


def new_buffer():
    """A buffer large enough for any RSC Measurement (10 bytes). Make it once."""
    return bytearray(RSC_MEAS_MAX)


def encode_measurement(buf, speed_256, cadence, running, stride_cm=-1, distance_dm=-1):
    """Write an RSC Measurement into `buf`; return its length (4, 6, 8 or 10 bytes).

    speed_256: instantaneous speed in 1/256 m/s; cadence: steps/min; running: truthy when
    running (else walking); stride_cm: stride length in 1/100 m, or -1 to leave it out;
    distance_dm: total distance in 1/10 m, or -1 to leave it out. Allocates nothing.
    """
    flags = RSC_FLAG_RUNNING if running else 0
    if stride_cm >= 0:
        flags |= RSC_FLAG_STRIDE
    if distance_dm >= 0:
        flags |= RSC_FLAG_DISTANCE
    struct.pack_into(RSC_MEAS_FMT, buf, 0, flags, _clamp(speed_256, _U16), _clamp(cadence, _U8))
    n = RSC_MEAS_SIZE
    if stride_cm >= 0:
        struct.pack_into("<H", buf, n, _clamp(stride_cm, _U16))
        n += 2
    if distance_dm >= 0:
        struct.pack_into("<I", buf, n, _clamp(distance_dm, _U32))
        n += 4
    return n


def decode_measurement(data):
    """(flags, speed_256, cadence, stride_cm or -1, distance_dm or -1) from measurement bytes.

    For tests and the host; raises ValueError if the length does not match the flags.
    """
    if len(data) < RSC_MEAS_SIZE:
        raise ValueError("RSC measurement too short")
    flags, speed, cadence = struct.unpack_from(RSC_MEAS_FMT, data, 0)
    n = RSC_MEAS_SIZE
    want = n + (2 if flags & RSC_FLAG_STRIDE else 0) + (4 if flags & RSC_FLAG_DISTANCE else 0)
    if want != len(data):
        raise ValueError("RSC measurement length does not match its flags")
    stride = -1
    distance = -1
    if flags & RSC_FLAG_STRIDE:
        stride = struct.unpack_from("<H", data, n)[0]
        n += 2
    if flags & RSC_FLAG_DISTANCE:
        distance = struct.unpack_from("<I", data, n)[0]
    return flags, speed, cadence, stride, distance


def encode_feature(buf, features=FEATURES):
    """Write the RSC Feature value (uint16) into `buf`; return 2."""
    struct.pack_into(RSC_FEATURE_FMT, buf, 0, features & _U16)
    return RSC_FEATURE_SIZE


def speed_256_from_mm_s(mm_per_s):
    """Instantaneous speed field (1/256 m/s) from millimetres per second (integer math)."""
    return (mm_per_s * 256 + 500) // 1000


class RscEncoder:
    """Holds the measurement buffer and its view so the per-sample path allocates nothing.

    `update(arg)` takes one tuple (speed_256, cadence, running, stride_cm, distance_dm) so the
    call itself allocates nothing; it returns the length, `view[:length]` is the value to notify.
    """

    def __init__(self):
        self.buf = new_buffer()
        self.view = memoryview(self.buf)
        self.length = 0

    def update(self, values):
        self.length = encode_measurement(self.buf, values[0], values[1], values[2], values[3],
                                         values[4])
        return self.length
