"""FIT activity file encoder (Garmin's Flexible and Interoperable Data Transfer protocol).

Written from the FIT protocol specification: a 14-byte file header with its own CRC, then
definition and data messages (little-endian here), then a CRC-16 of everything before it.
A definition message binds a local message type (0-15) to a global message number and a list
of (field number, size, base type); data messages that follow carry only the values.

`encode_activity(start, samples)` builds one running activity from a plain description of a
session, so it does not depend on the device log format:

- `start`: a `datetime` (naive means UTC) or unix seconds.
- `samples`: per-second dicts with `t_s` (seconds since start), `distance_to_obstacle_m`
  (metres, or None when nothing was seen), `cadence_spm` (steps per minute), `steps_total`
  (cumulative steps) and optionally `speed_mps` (metres per second). Faster samples are
  folded into one record per whole second (FIT timestamps are whole seconds): the last sample
  of the second, with the closest obstacle seen in it; the summaries use every sample.

The file holds, in this order: file_id (type activity, manufacturer development),
developer_data_id + field_description (a developer field `obstacle_distance`, float32, metres,
on record messages; absent from a record when nothing was seen), a timer start event, one record per sample, a timer stop event, one lap,
one session (sport running) and the activity message.

Units follow the FIT profile: running cadence is strides per minute (one foot) with a 1/128
fractional part, so `cadence_spm` 171 is written as cadence 85 + fractional 64/128; total
strides are steps / 2. Distance is the integral of `speed_mps` over time (absent without speed).
"""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

# Seconds between the unix epoch and the FIT epoch (1989-12-31T00:00:00Z).
FIT_EPOCH_UNIX = 631065600

PROTOCOL_VERSION = 0x20  # 2.0: developer data fields need protocol 2
PROFILE_VERSION = 2132  # 21.32
HEADER_SIZE = 14

# Base types: code -> (struct format, invalid value). Spec table "FIT Base Types".
ENUM, SINT8, UINT8, SINT16, UINT16 = 0x00, 0x01, 0x02, 0x83, 0x84
SINT32, UINT32, STRING, FLOAT32, FLOAT64 = 0x85, 0x86, 0x07, 0x88, 0x89
UINT8Z, UINT16Z, UINT32Z, BYTE = 0x0A, 0x8B, 0x8C, 0x0D
BASE_TYPES: dict[int, tuple[str, object]] = {
    ENUM: ("B", 0xFF),
    SINT8: ("b", 0x7F),
    UINT8: ("B", 0xFF),
    SINT16: ("h", 0x7FFF),
    UINT16: ("H", 0xFFFF),
    SINT32: ("i", 0x7FFFFFFF),
    UINT32: ("I", 0xFFFFFFFF),
    FLOAT32: ("I", 0xFFFFFFFF),  # packed as raw bits so the invalid pattern is exact
    FLOAT64: ("Q", 0xFFFFFFFFFFFFFFFF),
    UINT8Z: ("B", 0),
    UINT16Z: ("H", 0),
    UINT32Z: ("I", 0),
}

# Global message numbers (FIT profile, Messages).
MESG_FILE_ID = 0
MESG_SESSION = 18
MESG_LAP = 19
MESG_RECORD = 20
MESG_EVENT = 21
MESG_ACTIVITY = 34
MESG_FIELD_DESCRIPTION = 206
MESG_DEVELOPER_DATA_ID = 207

# Profile enum values used here.
FILE_ACTIVITY = 4
MANUFACTURER_DEVELOPMENT = 255
SPORT_RUNNING = 1
EVENT_TIMER, EVENT_LAP, EVENT_SESSION, EVENT_ACTIVITY = 0, 9, 8, 26
EVENT_TYPE_START, EVENT_TYPE_STOP, EVENT_TYPE_STOP_ALL = 0, 1, 4
ACTIVITY_MANUAL = 0

# Our developer data: one application id (fixed, derived from the project name) and one field.
APPLICATION_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/retrorun/retrorun").bytes
APPLICATION_VERSION = 1
DEV_DATA_INDEX = 0
DEV_FIELD_OBSTACLE = 0
OBSTACLE_FIELD_NAME = "obstacle_distance"

_CRC_TABLE = (
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
)


def crc16(data: bytes, crc: int = 0) -> int:
    """The FIT CRC-16 (the spec's nibble-table form; same as CRC-16/ARC), low nibble first."""
    for byte in data:
        tmp = _CRC_TABLE[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ _CRC_TABLE[byte & 0xF]
        tmp = _CRC_TABLE[crc & 0xF]
        crc = (crc >> 4) & 0x0FFF
        crc = crc ^ tmp ^ _CRC_TABLE[(byte >> 4) & 0xF]
    return crc


def fit_timestamp(unix_seconds: float) -> int:
    """A FIT date_time (whole seconds since 1989-12-31T00:00:00Z) from unix seconds."""
    value = round(unix_seconds) - FIT_EPOCH_UNIX
    if not 0x10000000 <= value < 0xFFFFFFFF:
        # Below 0x10000000 a FIT date_time means "seconds since device power-on", not a date.
        raise ValueError(f"start time {unix_seconds} is outside what a FIT file can hold "
                         "(1998 to 2126)")
    return value


class Field:
    """One field of a message: number, base type, value (None = invalid), size for arrays."""

    __slots__ = ("base_type", "number", "size", "value")

    def __init__(self, number: int, base_type: int, value: object, size: int | None = None):
        self.number = number
        self.base_type = base_type
        self.value = value
        if size is None:
            if base_type == STRING:
                size = len(str(value).encode()) + 1
            elif base_type == BYTE:
                size = len(value)  # type: ignore[arg-type]
            else:
                size = struct.calcsize("<" + BASE_TYPES[base_type][0])
        self.size = size

    def encode(self) -> bytes:
        if self.base_type == STRING:
            raw = b"" if self.value is None else str(self.value).encode()
            if len(raw) >= self.size:
                raise ValueError(f"string field {self.number} longer than {self.size - 1} bytes")
            return raw + b"\x00" * (self.size - len(raw))
        if self.base_type == BYTE:
            raw = b"\xff" * self.size if self.value is None else bytes(self.value)  # type: ignore[arg-type]
            if len(raw) != self.size:
                raise ValueError(f"byte field {self.number} must be {self.size} bytes")
            return raw
        fmt, invalid = BASE_TYPES[self.base_type]
        if self.value is None:
            return struct.pack("<" + fmt, invalid)
        if self.base_type == FLOAT32:
            return struct.pack("<f", self.value)
        if self.base_type == FLOAT64:
            return struct.pack("<d", self.value)
        value = int(self.value)  # type: ignore[call-overload]
        if value == invalid and self.base_type not in (UINT8Z, UINT16Z, UINT32Z):
            raise ValueError(f"field {self.number}: {value} is the reserved 'invalid' value")
        try:
            return struct.pack("<" + fmt, value)
        except struct.error:
            raise ValueError(f"field {self.number}: {value} does not fit its FIT base type "
                             f"0x{self.base_type:02X}") from None


class FitWriter:
    """Assembles messages, emitting a definition whenever a message layout is new.

    Local message types 0-15 are handed out per distinct layout (global number + field and
    developer field definitions); a layout seen before reuses its local type.
    """

    def __init__(self) -> None:
        self._records = bytearray()
        self._layouts: dict[tuple, int] = {}

    def message(self, global_number: int, fields: Sequence[Field],
                dev_fields: Sequence[tuple[int, int, int, bytes]] = ()) -> None:
        """Append one data message. `dev_fields`: (field number, dev data index, size, bytes)."""
        layout = (global_number,
                  tuple((f.number, f.size, f.base_type) for f in fields),
                  tuple((num, size, index) for num, index, size, _ in dev_fields))
        local = self._layouts.get(layout)
        if local is None:
            if len(self._layouts) >= 16:
                raise ValueError("more than 16 message layouts; the encoder does not recycle "
                                 "local message types")
            local = len(self._layouts)
            self._layouts[layout] = local
            self._records += self._definition(local, layout)
        self._records.append(local & 0x0F)  # normal header, data message
        for f in fields:
            self._records += f.encode()
        for _num, _index, size, raw in dev_fields:
            if len(raw) != size:
                raise ValueError("developer field value has the wrong size")
            self._records += raw

    @staticmethod
    def _definition(local: int, layout: tuple) -> bytes:
        global_number, fields, dev_fields = layout
        header = 0x40 | (0x20 if dev_fields else 0) | local
        out = bytearray(struct.pack("<BBBHB", header, 0, 0, global_number, len(fields)))
        for number, size, base_type in fields:
            out += struct.pack("<BBB", number, size, base_type)
        if dev_fields:
            out.append(len(dev_fields))
            for number, size, index in dev_fields:
                out += struct.pack("<BBB", number, size, index)
        return bytes(out)

    def finish(self) -> bytes:
        """The whole file: header (with its CRC), the records, the file CRC."""
        head = struct.pack("<BBHI4s", HEADER_SIZE, PROTOCOL_VERSION, PROFILE_VERSION,
                           len(self._records), b".FIT")
        head += struct.pack("<H", crc16(head))
        body = head + bytes(self._records)
        return body + struct.pack("<H", crc16(body))


def _unix_seconds(start: datetime | float | int) -> float:
    if isinstance(start, datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        return start.timestamp()
    return float(start)


def _utc_offset_s(start: datetime | float | int) -> int | None:
    if isinstance(start, datetime) and start.tzinfo is not None:
        offset = start.utcoffset()
        return None if offset is None else int(offset.total_seconds())
    return None


def _cadence_parts(spm: float | None) -> tuple[int | None, int | None]:
    """Steps per minute -> FIT running cadence (strides/min) and its 1/128 fraction."""
    if spm is None:
        return None, None
    strides = max(0.0, float(spm)) / 2.0
    units = round(strides * 128)
    whole, frac = divmod(units, 128)
    if whole > 254:
        raise ValueError(f"cadence {spm} steps/min is beyond what FIT can hold (508)")
    return whole, frac


def _scaled(value: float | None, scale: int) -> int | None:
    return None if value is None else round(value * scale)


def _obstacle_field(value: float | None) -> list[tuple[int, int, int, bytes]]:
    """The developer field, or none at all when nothing was seen.

    A record without an obstacle uses a second record layout without the developer field:
    some decoders turn the float32 invalid pattern of a developer field into NaN.
    """
    if value is None:
        return []
    return [(DEV_FIELD_OBSTACLE, DEV_DATA_INDEX, 4, struct.pack("<f", float(value)))]


def session_summary(samples: Sequence[Mapping]) -> dict:
    """The figures the lap and session messages carry, computed from the samples."""
    duration = float(samples[-1]["t_s"]) if samples else 0.0
    cadences = [float(s["cadence_spm"]) for s in samples if s.get("cadence_spm")]
    steps = [int(s["steps_total"]) for s in samples if s.get("steps_total") is not None]
    speeds = [float(s["speed_mps"]) for s in samples if s.get("speed_mps") is not None]
    distances = _distances(samples)
    known = [d for d in distances if d is not None]
    return {
        "duration_s": duration,
        "avg_cadence_spm": sum(cadences) / len(cadences) if cadences else None,
        "max_cadence_spm": max(cadences) if cadences else None,
        "steps": max(steps) if steps else None,
        "distance_m": known[-1] if known else None,
        "avg_speed_mps": (known[-1] / duration if known and duration > 0 else None),
        "max_speed_mps": max(speeds) if speeds else None,
    }


def _distances(samples: Sequence[Mapping]) -> list[float | None]:
    """Cumulative distance (m): trapezoid integral of speed over t_s; None without speed."""
    out: list[float | None] = []
    total = 0.0
    prev_t = prev_v = None
    for s in samples:
        v = s.get("speed_mps")
        t = float(s["t_s"])
        if v is None:
            out.append(None)
            prev_t = prev_v = None
            continue
        if prev_t is not None and prev_v is not None:
            total += (t - prev_t) * (prev_v + float(v)) / 2.0
        prev_t, prev_v = t, float(v)
        out.append(total)
    return out


def _per_second(samples: Sequence[Mapping]) -> Iterator[tuple[int, Mapping, float | None,
                                                               float | None]]:
    """One record per whole second: (second, last sample, its distance, closest obstacle).

    FIT timestamps are whole seconds, so samples taken faster than 1 Hz share one record:
    the last sample of the second gives speed, cadence and distance; the obstacle distance is
    the closest one seen during that second (None if nothing was seen).
    """
    group: list[tuple[Mapping, float | None]] = []
    current = None
    for s, distance in zip(samples, _distances(samples), strict=True):
        second = math.floor(float(s["t_s"]) + 1e-9)
        if group and second != current:
            yield _record_of(current, group)
            group = []
        current = second
        group.append((s, distance))
    if group:
        yield _record_of(current, group)


def _record_of(second, group):
    seen = [float(s["distance_to_obstacle_m"]) for s, _ in group
            if s.get("distance_to_obstacle_m") is not None]
    last, distance = group[-1]
    return second, last, distance, (min(seen) if seen else None)


def encode_activity(start: datetime | float | int, samples: Iterable[Mapping], *,
                    product_name: str = "retrorun", serial_number: int | None = None) -> bytes:
    """One running activity as FIT bytes (see the module docstring for the input)."""
    samples = sorted((dict(s) for s in samples), key=lambda s: float(s["t_s"]))
    start_unix = _unix_seconds(start)
    t0 = fit_timestamp(start_unix)
    summary = session_summary(samples)
    duration = summary["duration_s"]
    t_end = t0 + round(duration)
    w = FitWriter()

    w.message(MESG_FILE_ID, [
        Field(0, ENUM, FILE_ACTIVITY),
        Field(1, UINT16, MANUFACTURER_DEVELOPMENT),
        Field(2, UINT16, 1),
        Field(3, UINT32Z, serial_number),
        Field(4, UINT32, t0),
        Field(8, STRING, product_name, size=max(16, len(product_name.encode()) + 1)),
    ])
    w.message(MESG_DEVELOPER_DATA_ID, [
        Field(1, BYTE, APPLICATION_ID),
        Field(3, UINT8, DEV_DATA_INDEX),
        Field(4, UINT32, APPLICATION_VERSION),
    ])
    w.message(MESG_FIELD_DESCRIPTION, [
        Field(0, UINT8, DEV_DATA_INDEX),
        Field(1, UINT8, DEV_FIELD_OBSTACLE),
        Field(2, UINT8, FLOAT32),
        Field(3, STRING, OBSTACLE_FIELD_NAME),
        Field(8, STRING, "m"),
        Field(14, UINT16, MESG_RECORD),
    ])
    w.message(MESG_EVENT, [Field(253, UINT32, t0), Field(0, ENUM, EVENT_TIMER),
                           Field(1, ENUM, EVENT_TYPE_START)])

    for second, s, distance, closest in _per_second(samples):
        cadence, fraction = _cadence_parts(s.get("cadence_spm"))
        w.message(MESG_RECORD, [
            Field(253, UINT32, t0 + second),
            Field(5, UINT32, _scaled(distance, 100)),
            Field(6, UINT16, _scaled(s.get("speed_mps"), 1000)),
            Field(4, UINT8, cadence),
            Field(53, UINT8, fraction),
        ], _obstacle_field(closest))

    w.message(MESG_EVENT, [Field(253, UINT32, t_end), Field(0, ENUM, EVENT_TIMER),
                           Field(1, ENUM, EVENT_TYPE_STOP_ALL)])

    avg_cad, avg_frac = _cadence_parts(summary["avg_cadence_spm"])
    max_cad, max_frac = _cadence_parts(summary["max_cadence_spm"])
    strides = None if summary["steps"] is None else summary["steps"] // 2
    common = [
        Field(2, UINT32, t0),
        Field(7, UINT32, _scaled(duration, 1000)),
        Field(8, UINT32, _scaled(duration, 1000)),
        Field(9, UINT32, _scaled(summary["distance_m"], 100)),
        Field(10, UINT32, strides),
    ]
    w.message(MESG_LAP, [
        Field(254, UINT16, 0), Field(253, UINT32, t_end),
        Field(0, ENUM, EVENT_LAP), Field(1, ENUM, EVENT_TYPE_STOP),
        *common,
        Field(13, UINT16, _scaled(summary["avg_speed_mps"], 1000)),
        Field(14, UINT16, _scaled(summary["max_speed_mps"], 1000)),
        Field(17, UINT8, avg_cad), Field(18, UINT8, max_cad),
        Field(80, UINT8, avg_frac), Field(81, UINT8, max_frac),
        Field(25, ENUM, SPORT_RUNNING),
    ])
    w.message(MESG_SESSION, [
        Field(254, UINT16, 0), Field(253, UINT32, t_end),
        Field(0, ENUM, EVENT_SESSION), Field(1, ENUM, EVENT_TYPE_STOP),
        *common,
        Field(5, ENUM, SPORT_RUNNING), Field(6, ENUM, 0),
        Field(14, UINT16, _scaled(summary["avg_speed_mps"], 1000)),
        Field(15, UINT16, _scaled(summary["max_speed_mps"], 1000)),
        Field(18, UINT8, avg_cad), Field(19, UINT8, max_cad),
        Field(92, UINT8, avg_frac), Field(93, UINT8, max_frac),
        Field(25, UINT16, 0), Field(26, UINT16, 1),
    ])
    activity = [
        Field(253, UINT32, t_end),
        Field(0, UINT32, _scaled(duration, 1000)),
        Field(1, UINT16, 1),
        Field(2, ENUM, ACTIVITY_MANUAL),
        Field(3, ENUM, EVENT_ACTIVITY),
        Field(4, ENUM, EVENT_TYPE_STOP),
    ]
    offset = _utc_offset_s(start)
    if offset is not None:
        activity.append(Field(5, UINT32, t_end + offset))
    w.message(MESG_ACTIVITY, activity)
    return w.finish()


def write_activity(path: str | Path, start: datetime | float | int,
                   samples: Iterable[Mapping], **kwargs) -> int:
    """Write `encode_activity(...)` to `path`; returns the number of bytes written."""
    data = encode_activity(start, samples, **kwargs)
    Path(path).write_bytes(data)
    return len(data)
