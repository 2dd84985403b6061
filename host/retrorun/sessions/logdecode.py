"""Whole session files into records: the laptop's reading of what the device wrote.

The device only writes sessions and checks frames (`retrofw.logfmt`, boot recovery); turning a
file into records is done here, on the host, with the firmware's own frame checker
(`logfmt.frame_check`), snapshot reader and distance coding, and the formats of
`retrofw.wire`, so the host reads exactly the bytes the device writes.

`decode(data) -> (records, problems)`: every valid frame is decoded whatever damage surrounds
it; damage is reported as problems (damaged regions, a torn tail, an unknown format version)
rather than raised, so callers salvage what is good. Layout: docs/log-format.md.
"""

from __future__ import annotations

import struct

from retrofw import logfmt, wire

_HEAD = wire.LOG_FRAME_HEAD_SIZE
_ENTRY = wire.LOG_ENTRY_SIZE
_BLOCK_HEAD = wire.LOG_BLOCK_SIZE
_SNAP_HEAD = wire.LOG_SNAPSHOT_SIZE
_SYNC_BYTE = bytes((wire.LOG_SYNC,))

# per event type: the names of its a and b fields (None: not meaningful)
_EVENT_FIELDS = (
    None, ("level", "distance_mm"), ("active", "code"), ("press", None),
    ("percent", "mv"), ("full", "free_kb"), ("fallback", "mode"), ("reason", None),
    (None, "dropped_bytes"), ("cue", "trunk_deg10"), ("reduced", "range_mm"), (None, "unix"),
)


def _header(data: bytes, pos: int, p: int) -> dict:
    version, sid, start, chash, period = struct.unpack_from(wire.LOG_HEADER_FMT, data, p)
    q = p + wire.LOG_HEADER_SIZE
    fw = bytes(data[q + 1:q + 1 + data[q]]).decode()
    q += 1 + data[q]
    board = bytes(data[q + 1:q + 1 + data[q]]).decode()
    return {"kind": "header", "offset": pos, "version": version, "session_id": sid,
            "start_unix": start, "config_hash": chash, "sample_period_ms": period,
            "firmware": fw, "board": board}


def _samples(data: bytes, pos: int, p: int, n: int) -> list[dict]:
    t, steps = struct.unpack_from(wire.LOG_BLOCK_FMT, data, p)
    out = []
    for i in range((n - _BLOCK_HEAD) // _ENTRY):
        step, d, packed, cad, ang = struct.unpack_from(
            wire.LOG_ENTRY_FMT, data, p + _BLOCK_HEAD + i * _ENTRY)
        t += step * 10
        steps += packed & 31
        out.append({"kind": "sample", "offset": pos, "t_ms": t,
                    "distance_mm": logfmt.dist_from_u16(d), "alert": packed >> 5,
                    "steps": steps, "cadence": cad, "trunk_deg10": ang})
    return out


def _event(data: bytes, pos: int, p: int) -> dict:
    t, ev, a, b = struct.unpack_from(wire.LOG_EVENT_FMT, data, p)
    rec = {"kind": "event", "offset": pos, "t_ms": t,
           "event": wire.EV_NAMES[ev] if 0 < ev < len(wire.EV_NAMES) else "unknown",
           "type": ev, "a": a, "b": b}
    if 0 < ev < len(_EVENT_FIELDS):
        na, nb = _EVENT_FIELDS[ev]
        if na:
            rec[na] = a
        if nb:
            rec[nb] = b
    return rec


def _snapshot(data: bytes, pos: int, p: int, n: int) -> dict:
    t, period, level, part = struct.unpack_from(wire.LOG_SNAPSHOT_FMT, data, p)
    coded = logfmt.snapshot_readings(data, p + _SNAP_HEAD, p + n) or []
    return {"kind": "snapshot", "offset": pos, "t_ms": t, "period_ms": period,
            "level": level, "part": part,
            "distances_mm": [logfmt.dist_from_u16(v) for v in coded]}


def _footer(data: bytes, pos: int, p: int) -> dict:
    f = struct.unpack_from(wire.LOG_FOOTER_FMT, data, p)
    return {"kind": "footer", "offset": pos, "duration_ms": f[0], "steps": f[1],
            "max_cadence": f[2],
            "alerts": {"notice": f[3], "warning": f[4], "stop": f[5], "fault": f[6]},
            "min_distance_mm": None if f[7] == wire.LOG_DIST_NONE else f[7], "faults": f[8],
            "recovered": bool(f[9] & wire.FOOTER_RECOVERED),
            "storage_full": bool(f[9] & wire.FOOTER_STORAGE_FULL)}


def records_of(data: bytes, pos: int) -> list[dict]:
    """The records of the valid frame at data[pos] (a sample block gives one per sample)."""
    kind = data[pos + 1]
    n = data[pos + 2]
    p = pos + _HEAD
    if kind == wire.REC_HEADER:
        return [_header(data, pos, p)]
    if kind == wire.REC_SAMPLES:
        return _samples(data, pos, p, n)
    if kind == wire.REC_EVENT:
        return [_event(data, pos, p)]
    if kind == wire.REC_SNAPSHOT:
        return [_snapshot(data, pos, p, n)]
    return [_footer(data, pos, p)]


def decode(data) -> tuple[list[dict], list[dict]]:
    """Decode a whole session file. Returns (records, problems).

    records: dicts with a "kind" key (header, sample, event, snapshot, footer) and the byte
    "offset" of their frame; sample blocks are expanded into one dict per sample.
    problems: dicts {"problem": "damaged" | "torn_tail" | "version", "offset", "length",
    "message"}. Every valid frame is decoded, whatever surrounds it.
    """
    data = bytes(data)
    n = len(data)
    records: list[dict] = []
    problems: list[dict] = []
    pos = 0
    bad_start = -1
    while pos < n:
        r = logfmt.frame_check(data, pos, n)
        if r > 0:
            if bad_start >= 0:
                problems.append({"problem": "damaged", "offset": bad_start,
                                 "length": pos - bad_start,
                                 "message": f"{pos - bad_start} damaged bytes at offset "
                                 f"{bad_start} skipped"})
                bad_start = -1
            recs = records_of(data, pos)
            if recs[0]["kind"] == "header" and recs[0]["version"] != wire.LOG_FORMAT_VERSION:
                problems.append({"problem": "version", "offset": pos, "length": n - pos,
                                 "message": f"log format version {recs[0]['version']} is "
                                 f"not supported (this reader knows "
                                 f"{wire.LOG_FORMAT_VERSION})"})
                return records, problems
            records.extend(recs)
            pos += r
        else:
            if bad_start < 0:
                bad_start = pos
            nxt = data.find(_SYNC_BYTE, pos + 1)
            pos = n if nxt < 0 else nxt
    if bad_start >= 0:
        problems.append({"problem": "torn_tail", "offset": bad_start, "length": n - bad_start,
                         "message": f"torn tail: last {n - bad_start} bytes (from offset "
                         f"{bad_start}) are not a complete record"})
    _date_from_clock(records)
    return records, problems


def _date_from_clock(records: list[dict]) -> None:
    """A session that started before its clock was set (start_unix 0) is dated by its first
    clock event: the laptop set the clock to `unix` at `t_ms` into the session."""
    header = next((r for r in records if r["kind"] == "header"), None)
    if header is None or header["start_unix"]:
        return
    clock = next((r for r in records if r["kind"] == "event" and r["type"] == wire.EV_CLOCK),
                 None)
    if clock is not None:
        header["start_unix"] = clock["b"] - clock["t_ms"] // 1000
        header["start_from"] = "clock"
