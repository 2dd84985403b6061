"""Session log records: encoder and frame checker, pure, the same file on the device and laptop.

A session file is a sequence of frames (layout in wire.py and docs/log-format.md):

    SYNC 0xA5 | kind | payload length n | payload (n bytes) | CRC-16 of kind+length+payload

The encoders write into caller-owned buffers (`encode_*_into(buf, pos, ...) -> new pos`) and,
for sample records, into a `SampleBlock` made once: adding a sample allocates nothing. The
decoder validates each frame (sync, known kind, plausible length, CRC) and resynchronises on
the next sync byte after damage, so one damaged frame costs that frame and nothing else
(`frame_check`); `scan_file` walks a file in a fixed window for boot recovery on the device.
Decoding whole files into records, which the device never does, is the host's
(`retrorun.logdecode.decode`, built on `frame_check` and `snapshot_readings` from here).
"""

import struct
from array import array

from retrofw import wire

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_SYNC = wire.LOG_SYNC
_OVERHEAD = wire.LOG_FRAME_OVERHEAD
_HEAD = wire.LOG_FRAME_HEAD_SIZE
_PAYLOAD_MAX = wire.LOG_PAYLOAD_MAX
_ENTRY = wire.LOG_ENTRY_SIZE
_BLOCK_HEAD = wire.LOG_BLOCK_SIZE
_BLOCK_MAX = wire.LOG_BLOCK_SAMPLES
_DIST_MAX = wire.DISTANCE_MAX_MM
_DIST_NONE = wire.LOG_DIST_NONE
_SNAP_HEAD = wire.LOG_SNAPSHOT_SIZE
_SNAP_STREAM = const(247)  # payload bytes left for readings after the snapshot head
_ESC = const(-128)  # snapshot stream: an absolute u16 reading follows

# Frame check results besides a positive frame length.
TRUNCATED = const(-1)  # a frame may start here but the data ends before it does
BAD = const(-2)  # no valid frame starts here

# Formats and sizes are wire.py's (one definition); local names keep the hot paths short.
_ENTRY_FMT = wire.LOG_ENTRY_FMT
_BLOCK_FMT = wire.LOG_BLOCK_FMT
_EVENT_FMT = wire.LOG_EVENT_FMT
_SNAP_FMT = wire.LOG_SNAPSHOT_FMT
_FOOTER_FMT = wire.LOG_FOOTER_FMT
_HEADER_FMT = wire.LOG_HEADER_FMT


def _make_table():
    table = array("H", bytes(512))
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        table[i] = c & 0xFFFF
    return table


_TABLE = _make_table()


def crc16(buf, start, end, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of buf[start:end] (poly 0x1021, init 0xFFFF); allocates nothing."""
    table = _TABLE
    for i in range(start, end):
        crc = ((crc << 8) & 0xFF00) ^ table[((crc >> 8) ^ buf[i]) & 0xFF]
    return crc


try:  # CPython: the same CRC in C, for the host decoder's speed
    from binascii import crc_hqx as _crc_hqx  # type: ignore[attr-defined]

    def _crc_of(buf, start, end):
        return _crc_hqx(bytes(buf[start:end]), 0xFFFF)
except ImportError:  # MicroPython
    _crc_of = crc16


def dist_to_u16(distance_mm):
    """A distance reading (mm, NO_READING or SENSOR_* code) as the record's unsigned field."""
    if distance_mm < 0:
        if distance_mm < -255:
            distance_mm = -255
        return 65536 + distance_mm
    if distance_mm > _DIST_MAX:
        return _DIST_MAX
    return distance_mm


def dist_from_u16(value):
    """Inverse of dist_to_u16: mm, or a negative NO_READING / SENSOR_* code."""
    if value > _DIST_MAX:
        return value - 65536
    return value


def _seal(buf, start, kind, payload_len):
    """Write the frame head at start and the CRC after the payload; return the frame end."""
    buf[start] = _SYNC
    buf[start + 1] = kind
    buf[start + 2] = payload_len
    end = start + _HEAD + payload_len
    crc = _crc_of(buf, start + 1, end)
    buf[end] = crc & 0xFF
    buf[end + 1] = crc >> 8
    return end + 2


def frame_size(payload_len):
    return payload_len + _OVERHEAD


def _clamp(v, lo, hi):
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


def encode_header_into(buf, pos, session_id, start_unix, config_hash, sample_period_ms,
                       firmware, board):
    """Session header at buf[pos:]; returns the end position. Strings are ASCII, <= 40 chars."""
    fw = firmware.encode()[:40]
    bd = board.encode()[:40]
    struct.pack_into(_HEADER_FMT, buf, pos + _HEAD, wire.LOG_FORMAT_VERSION, session_id,
                     start_unix, config_hash & 0xFFFFFFFF, sample_period_ms)
    p = pos + _HEAD + wire.LOG_HEADER_SIZE
    buf[p] = len(fw)
    buf[p + 1:p + 1 + len(fw)] = fw
    p += 1 + len(fw)
    buf[p] = len(bd)
    buf[p + 1:p + 1 + len(bd)] = bd
    p += 1 + len(bd)
    return _seal(buf, pos, wire.REC_HEADER, p - pos - _HEAD)


def encode_event_into(buf, pos, t_ms, event, a, b):
    """Event record (wire.EV_*) at buf[pos:]; returns the end position. Allocates nothing."""
    struct.pack_into(_EVENT_FMT, buf, pos + _HEAD, t_ms, event, a & 0xFF, b)
    return _seal(buf, pos, wire.REC_EVENT, 10)


def encode_snapshot_into(buf, pos, t0_ms, period_ms, level, part, readings, start, count):
    """One snapshot part from readings[start:start+count] at buf[pos:] (buf holds >= 260
    bytes from pos). Returns (end position, readings taken): the part takes as many as fit.

    Readings are coded as the int8 change in mm from the previous one; a change outside
    -127..127 (and the first reading) is the byte 0x80 followed by the u16 reading."""
    struct.pack_into(_SNAP_FMT, buf, pos + _HEAD, t0_ms, period_ms, level, part)
    p = pos + _HEAD + _SNAP_HEAD
    stop = p + _SNAP_STREAM
    prev = 0
    taken = 0
    for i in range(start, start + count):
        if stop - p < 3:
            break
        v = dist_to_u16(readings[i])
        d = v - prev
        if taken and -127 <= d <= 127:
            buf[p] = d & 0xFF
            p += 1
        else:
            buf[p] = 0x80
            buf[p + 1] = v & 0xFF
            buf[p + 2] = v >> 8
            p += 3
        prev = v
        taken += 1
    return _seal(buf, pos, wire.REC_SNAPSHOT, p - pos - _HEAD), taken


def snapshot_readings(buf, start, end):
    """Decode a snapshot stream buf[start:end] into a list of u16-coded readings, or None when
    it is malformed (an escape cut short, or a change before any absolute reading)."""
    out = []
    p = start
    prev = -1
    while p < end:
        c = buf[p]
        if c == 0x80:
            if p + 3 > end:
                return None
            prev = buf[p + 1] | (buf[p + 2] << 8)
            p += 3
        else:
            if prev < 0:
                return None
            prev += c - 256 if c > 127 else c
            if prev < 0 or prev > 65535:
                return None
            p += 1
        out.append(prev)
    return out


def encode_footer_into(buf, pos, summary, flags):
    """Footer from a Summary at buf[pos:]; returns the end position."""
    al = summary.alerts
    struct.pack_into(_FOOTER_FMT, buf, pos + _HEAD, summary.duration_ms, summary.steps,
                     _clamp(summary.max_cadence, 0, 255), _clamp(al[1], 0, 65535),
                     _clamp(al[2], 0, 65535), _clamp(al[3], 0, 65535),
                     _clamp(al[4], 0, 65535), summary.min_dist, _clamp(summary.faults, 0, 65535),
                     flags | summary.flags)
    return _seal(buf, pos, wire.REC_FOOTER, wire.LOG_FOOTER_SIZE)


class SampleBlock:
    """Up to 12 samples in one record, built in a buffer made once. add() allocates nothing.

    Times are ms since session start. Entry times are stored as steps of 10 ms from the
    previous entry's stored time, so the error never accumulates (at most 5 ms per sample).
    """

    def __init__(self):
        self.buf = bytearray(_OVERHEAD + _BLOCK_HEAD + _ENTRY * _BLOCK_MAX)
        self.count = 0
        self.t_last = 0
        self.steps_last = 0

    def fits(self, t_ms, steps):
        """True if a sample at t_ms with this steps total can join the open block."""
        if self.count == 0:
            return True
        if self.count >= _BLOCK_MAX:
            return False
        dt = t_ms - self.t_last
        ds = steps - self.steps_last
        return 0 <= dt <= 2554 and 0 <= ds <= 31

    def add(self, t_ms, distance_mm, alert, steps, cadence, trunk_deg10):
        """Append a sample; the caller checked fits(). Returns the number of samples held."""
        n = self.count
        if n == 0:
            struct.pack_into(_BLOCK_FMT, self.buf, _HEAD, t_ms, steps)
            step = 0
            self.t_last = t_ms
        else:
            step = (t_ms - self.t_last + 5) // 10
            self.t_last += step * 10
        struct.pack_into(_ENTRY_FMT, self.buf, _HEAD + _BLOCK_HEAD + n * _ENTRY, step,
                         dist_to_u16(distance_mm),
                         ((alert & 7) << 5) | (steps - self.steps_last if n else 0),
                         _clamp(cadence, 0, 255), _clamp(trunk_deg10, -32768, 32767))
        self.steps_last = steps
        self.count = n + 1
        return n + 1

    def seal(self):
        """Finish the frame; returns its length (buf[0:length] is the record)."""
        return _seal(self.buf, 0, wire.REC_SAMPLES, _BLOCK_HEAD + _ENTRY * self.count)


class Summary:
    """Running session summary (footer contents); updates allocate nothing."""

    def __init__(self):
        self.alerts = [0, 0, 0, 0, 0]
        self.reset()

    def reset(self):
        self.duration_ms = 0
        self.steps = 0
        self.max_cadence = 0
        for i in range(5):
            self.alerts[i] = 0
        self.min_dist = _DIST_NONE
        self.faults = 0
        self.flags = 0

    def seen(self, t_ms):
        if t_ms > self.duration_ms:
            self.duration_ms = t_ms

    def sample(self, t_ms, distance_mm, steps, cadence):
        self.seen(t_ms)
        if steps > self.steps:
            self.steps = steps
        if cadence > self.max_cadence:
            self.max_cadence = cadence
        if 0 <= distance_mm < self.min_dist and distance_mm <= _DIST_MAX:
            self.min_dist = distance_mm

    def event(self, t_ms, event, a, b):
        self.seen(t_ms)
        if event == wire.EV_ALERT and 1 <= a <= 4:
            self.alerts[a] += 1
        elif event == wire.EV_SENSOR and a == 1:
            self.faults += 1
        elif event == wire.EV_STORAGE and a == 1:
            self.flags |= wire.FOOTER_STORAGE_FULL

    def add_frame(self, buf, pos):
        """Fold a valid frame at buf[pos] into the summary (used by boot recovery)."""
        kind = buf[pos + 1]
        p = pos + _HEAD
        if kind == wire.REC_SAMPLES:
            t, steps = struct.unpack_from(_BLOCK_FMT, buf, p)
            n = (buf[pos + 2] - _BLOCK_HEAD) // _ENTRY
            for i in range(n):
                step, d, packed, cad, _ang = struct.unpack_from(
                    _ENTRY_FMT, buf, p + _BLOCK_HEAD + i * _ENTRY)
                t += step * 10
                steps += packed & 31
                self.sample(t, dist_from_u16(d), steps, cad)
        elif kind == wire.REC_EVENT:
            t, ev, a, b = struct.unpack_from(_EVENT_FMT, buf, p)
            self.event(t, ev, a, b)
        elif kind == wire.REC_SNAPSHOT:
            t, _period, _level, _part = struct.unpack_from(_SNAP_FMT, buf, p)
            self.seen(t)


def _length_ok(kind, n):
    if kind == wire.REC_SAMPLES:
        return n > _BLOCK_HEAD and (n - _BLOCK_HEAD) % _ENTRY == 0 and \
            n <= _BLOCK_HEAD + _ENTRY * _BLOCK_MAX
    if kind == wire.REC_EVENT:
        return n == 10
    if kind == wire.REC_SNAPSHOT:
        return _SNAP_HEAD + 3 <= n <= _SNAP_HEAD + _SNAP_STREAM
    if kind == wire.REC_FOOTER:
        return n == wire.LOG_FOOTER_SIZE
    if kind == wire.REC_HEADER:
        return wire.LOG_HEADER_SIZE + 2 <= n <= wire.LOG_HEADER_SIZE + 82
    return False


def frame_check(buf, pos, end):
    """Length of the valid frame at buf[pos] (data ends at end), or TRUNCATED or BAD."""
    if end - pos < _OVERHEAD:
        return TRUNCATED if buf[pos] == _SYNC else BAD
    if buf[pos] != _SYNC:
        return BAD
    kind = buf[pos + 1]
    n = buf[pos + 2]
    if not _length_ok(kind, n):
        return BAD
    total = n + _OVERHEAD
    if end - pos < total:
        return TRUNCATED
    crc = _crc_of(buf, pos + 1, pos + _HEAD + n)
    if buf[pos + _HEAD + n] != (crc & 0xFF) or buf[pos + _HEAD + n + 1] != (crc >> 8):
        return BAD
    if kind == wire.REC_SNAPSHOT:
        if buf[pos + _HEAD + _SNAP_HEAD] != 0x80 or \
                snapshot_readings(buf, pos + _HEAD + _SNAP_HEAD, pos + _HEAD + n) is None:
            return BAD
    if kind == wire.REC_HEADER:
        p = pos + _HEAD + wire.LOG_HEADER_SIZE
        stop = pos + _HEAD + n
        fl = buf[p]
        if p + 1 + fl >= stop or p + 2 + fl + buf[p + 1 + fl] != stop:
            return BAD
    return total


def is_footer_at_end(buf, end):
    """True if buf[:end] ends with a valid footer frame (a finished session)."""
    pos = end - _OVERHEAD - wire.LOG_FOOTER_SIZE
    return pos >= 0 and buf[pos + 1] == wire.REC_FOOTER and frame_check(buf, pos, end) > 0


def scan_file(f, on_frame, window=None):
    """Walk a file's valid frames in a fixed window; call on_frame(buf, pos, file_offset).

    Returns (end of the last valid frame, number of valid frames, bytes skipped as damage
    before it). The window must hold at least two maximal frames (520 bytes).
    """
    buf = window if window is not None else bytearray(1024)
    base = 0  # file offset of buf[0]
    have = 0
    eof = False
    pos = 0
    good_end = 0
    frames = 0
    skipped = 0
    while True:
        if not eof and have - pos < _PAYLOAD_MAX + _OVERHEAD:
            rest = have - pos
            for i in range(rest):
                buf[i] = buf[pos + i]
            base += pos
            pos = 0
            have = rest
            mv = memoryview(buf)
            while have < len(buf):  # a short read is not the end; only an empty one is
                got = f.readinto(mv[have:]) or 0
                if got == 0:
                    eof = True
                    break
                have += got
        if pos >= have:
            break
        r = frame_check(buf, pos, have)
        if r > 0:
            if on_frame is not None:
                on_frame(buf, pos, base + pos)
            skipped += base + pos - good_end
            pos += r
            good_end = base + pos
            frames += 1
        else:
            pos += 1
            while pos < have and buf[pos] != _SYNC:
                pos += 1
    return good_end, frames, skipped
