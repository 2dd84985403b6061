"""The log record encoder: the same bytes in CPython and MicroPython, read back by the host's
decoder (retrorun.sessions.logdecode); CRC parity with the C implementation, and an allocation-free
sample path on the device."""

import binascii
import struct

import pytest

from retrofw import logfmt, wire
from retrorun.sessions import logdecode

ROUND_TRIP = r"""
from retrofw import logfmt, wire
buf = bytearray(600)
p = logfmt.encode_header_into(buf, 0, 42, 1700000000, 0xDEADBEEF, 1000, '0.1.0', 'devkit')
p = logfmt.encode_event_into(buf, p, 1234, wire.EV_SENSOR, 1, wire.SENSOR_BLINDED)
p = logfmt.encode_event_into(buf, p, 1500, wire.EV_BATTERY, 87, 3987)
b = logfmt.SampleBlock()
t = 0
steps = 10
for i in range(12):
    d = [1500, wire.NO_READING, wire.SENSOR_TIMEOUT, 65000, 70000, 0][i % 6]
    b.add(t, d, i % 5, steps, 150 + i, -300 + 77 * i)
    t += 997
    steps += i % 4
n = b.seal()
buf[p:p + n] = b.buf[0:n]
p += n
readings = [3000 - 7 * i for i in range(40)] + [wire.SENSOR_STUCK, 800, 4000]
p, taken = logfmt.encode_snapshot_into(buf, p, 5000, 20, 2, 0, readings, 0, len(readings))
s = logfmt.Summary()
s.sample(100, 900, 55, 170)
s.event(200, wire.EV_ALERT, 3, 900)
s.event(300, wire.EV_SENSOR, 1, -2)
p = logfmt.encode_footer_into(buf, p, s, wire.FOOTER_RECOVERED)
result = [list(buf[0:p]), taken]
"""


def test_encoder_agrees_in_both_runtimes_and_the_host_decodes_it(both):
    data, taken = both.run(ROUND_TRIP)
    records, problems = logdecode.decode(bytes(data))
    assert problems == []
    assert taken == 43
    kinds = [r["kind"] for r in records]
    assert kinds == ["header", "event", "event"] + ["sample"] * 12 + ["snapshot", "footer"]
    header = records[0]
    assert (header["session_id"], header["start_unix"], header["config_hash"]) == \
        (42, 1700000000, 0xDEADBEEF)
    assert (header["firmware"], header["board"]) == ("0.1.0", "devkit")
    assert records[1]["code"] == wire.SENSOR_BLINDED and records[1]["active"] == 1
    assert records[2]["mv"] == 3987 and records[2]["percent"] == 87
    samples = records[3:15]
    steps = 10
    for i, s in enumerate(samples):
        expected_d = [1500, wire.NO_READING, wire.SENSOR_TIMEOUT, 65000, 65000, 0][i % 6]
        assert s["distance_mm"] == expected_d
        assert s["alert"] == i % 5
        assert s["steps"] == steps
        assert s["cadence"] == 150 + i
        assert s["trunk_deg10"] == -300 + 77 * i
        assert abs(s["t_ms"] - 997 * i) <= 5  # 10 ms steps, never accumulating
        steps += i % 4
    snap = records[15]
    assert snap["distances_mm"] == [3000 - 7 * i for i in range(40)] + \
        [wire.SENSOR_STUCK, 800, 4000]
    footer = records[16]
    assert footer["recovered"] and footer["alerts"]["stop"] == 1 and footer["faults"] == 1
    assert footer["min_distance_mm"] == 900 and footer["max_cadence"] == 170


def test_python_crc_matches_c_crc_hqx():
    data = bytes(range(256)) * 3 + b"retrorun"
    for start, end in ((0, 0), (0, 1), (5, 300), (0, len(data))):
        assert logfmt.crc16(data, start, end) == binascii.crc_hqx(data[start:end], 0xFFFF)


def test_frame_layout_matches_wire_formats():
    buf = bytearray(64)
    end = logfmt.encode_event_into(buf, 0, 77, wire.EV_BUTTON, 2, -5)
    assert end == wire.LOG_EVENT_SIZE + wire.LOG_FRAME_OVERHEAD
    sync, kind, n = struct.unpack_from(wire.LOG_FRAME_HEAD_FMT, buf, 0)
    assert (sync, kind, n) == (wire.LOG_SYNC, wire.REC_EVENT, wire.LOG_EVENT_SIZE)
    assert struct.unpack_from(wire.LOG_EVENT_FMT, buf, 3) == (77, wire.EV_BUTTON, 2, -5)
    (crc,) = struct.unpack_from(wire.LOG_FRAME_CRC_FMT, buf, 3 + n)
    assert crc == binascii.crc_hqx(bytes(buf[1:3 + n]), 0xFFFF)


def test_sample_block_refuses_what_it_cannot_hold():
    b = logfmt.SampleBlock()
    b.add(0, 1000, 0, 100, 170, 0)
    assert not b.fits(3000, 101)  # time step beyond 2.55 s
    assert not b.fits(1000, 200)  # more than 31 steps since the previous sample
    assert not b.fits(-10, 100)  # time going backwards
    for i in range(1, 12):
        assert b.fits(i * 1000, 100 + i)
        b.add(i * 1000, 1000, 0, 100 + i, 170, 0)
    assert not b.fits(12000, 112)  # full


NO_ALLOC = r"""
from retrofw import store, wire
import micropython
w = store.SessionWriter(root='/', now_ms=1000, free_kb=lambda: 5000, board='t')
for i in range(5):
    w.sample(1000 + i * 1000, 2000, 1, i * 3, 170, 12)
w.poll(100000)
t = [100000]
def one(d):
    t[0] += 1000
    w.sample(t[0], d, 2, t[0] // 400, 171, -33)
# 30 samples: crosses block seals (12 per block) but no flush (the interval is 5 s of ticks)
w.flush_ms = 10000000
for i in range(30):
    no_alloc(one, 1500 + i)
ev = [0]
def event(d):
    w.event(t[0], wire.EV_ALERT, 2, d)
no_alloc(event, 900)
heap = mem_delta(one, 1234)
fuel = [fuel_of(one, 1000 + i) for i in range(12)]
w.close(t[0] + 10)
result = [heap, fuel, w.status()['bytes']]
"""


@pytest.mark.micropython
def test_encoding_a_sample_allocates_nothing_in_micropython(mpy, device_fs):
    heap, fuel, size = mpy.eval(NO_ALLOC, fs=device_fs)
    assert heap == 0
    assert len(fuel) == 12 and min(fuel) > 0
    assert size > 30 * wire.LOG_ENTRY_SIZE


def test_unknown_format_version_is_refused_with_a_problem():
    buf = bytearray(100)
    end = logfmt.encode_header_into(buf, 0, 1, 0, 0, 1000, "9.9", "x")
    end = logfmt.encode_event_into(buf, end, 5, wire.EV_BUTTON, 1, 0)
    buf[3] = wire.LOG_FORMAT_VERSION + 1  # a newer writer
    crc = logfmt.crc16(buf, 1, buf[2] + 3)
    buf[buf[2] + 3] = crc & 0xFF
    buf[buf[2] + 4] = crc >> 8
    records, problems = logdecode.decode(bytes(buf[:end]))
    assert records == []
    assert [p["problem"] for p in problems] == ["version"]
    assert "not supported" in problems[0]["message"]
