"""The device session store: power cuts at every offset, storage-full policy, synced markers,
bounded flushing, snapshots. Recovery runs under CPython and real MicroPython."""

import binascii
import json
import os
import shutil
import tempfile

import pytest
from logs_support import frames_of, record_session

from retrofw import logfmt, store, wire
from retrofw.snapshot import SnapshotRing
from retrorun.devtools.mpy import NO_GC_HEAP_KB
from retrorun.sessions import logdecode


def _cut_offsets(data, frames):
    boundaries = sorted({o for o, _ in frames} | {len(data)})
    others = [c for c in range(1, len(data)) if c not in set(boundaries)]
    step = max(1, len(others) // 1100)  # >= 1000 offsets that are not record boundaries
    return boundaries, others[::step]


_decoded = {}


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _expected_after_cut(data, frames, cut):
    """Records of the frames complete before the cut (what recovery must keep)."""
    if data not in _decoded:
        _decoded[data] = logdecode.decode(data)[0]
    kept = [(o, n) for o, n in frames if o + n <= cut]
    end = kept[-1][0] + kept[-1][1] if kept else 0
    return [r for r in _decoded[data] if r["offset"] < end], end


def _check_recovered(path, data, frames, cut):
    expected, end = _expected_after_cut(data, frames, cut)
    if not expected:
        assert not os.path.exists(path), f"cut {cut}: a session without records must go"
        return
    got, problems = logdecode.decode(_read(path))
    assert problems == [], f"cut {cut}: {problems}"
    if cut == len(data):
        assert got == expected, "a finished session must not be touched"
        return
    assert got[:len(expected)] == expected, f"cut {cut}: records before the cut changed"
    tail = got[len(expected):]
    assert [r["kind"] for r in tail] == ["event", "footer"], f"cut {cut}: {tail}"
    assert tail[0]["event"] == "recovered" and tail[0]["dropped_bytes"] == cut - end
    footer = tail[1]
    assert footer["recovered"]
    samples = [r for r in expected if r["kind"] == "sample"]
    if samples:
        assert footer["steps"] == samples[-1]["steps"]
        assert footer["duration_ms"] >= samples[-1]["t_ms"]


@pytest.fixture
def fast_dir(tmp_path):
    """A folder in RAM when the machine has one (thousands of small writes), else tmp_path."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = tempfile.mkdtemp(prefix="retrorun-cut-", dir="/dev/shm")
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield str(tmp_path)


def test_power_cut_at_every_offset_keeps_exactly_the_complete_records(fast_dir, session_bytes):
    data = session_bytes
    frames = frames_of(data)
    boundaries, others = _cut_offsets(data, frames)
    assert len(boundaries) > 30 and len(others) >= 1000, "the session is too small for the test"
    st = store.SessionStore(fast_dir)
    path = st.path(1)
    for cut in boundaries + others:
        with open(path, "wb") as f:
            f.write(data[:cut])
        recovered = st.recover_all()
        assert [sid for sid, _ in recovered] == ([] if cut == len(data) else [1])
        _check_recovered(path, data, frames, cut)
        # recovery is idempotent: a second boot changes nothing
        if cut % 7 == 0 and os.path.exists(path):
            before = _read(path)
            assert st.recover_all() == []
            assert _read(path) == before



MPY_CUTS = r"""
from retrofw import store
import binascii
st = store.SessionStore('/')
src = open(st.path(1), 'rb').read()
out = []
for cut in CUTS:
    with open(st.path(2), 'wb') as f:
        f.write(src[:cut])
    st.recover_all()
    try:
        got = open(st.path(2), 'rb').read()
        out.append([len(got), binascii.crc32(got) & 0xFFFF])
        st.delete(2)
    except OSError:
        out.append(None)
result = out
"""


@pytest.mark.micropython
def test_power_cut_recovery_in_micropython_matches_cpython(mpy, device_fs, tmp_path):
    data = record_session(tmp_path / "cpy", seconds=130, seed=3)
    frames = frames_of(data)
    boundaries, others = _cut_offsets(data, frames)
    cuts = boundaries[:-1] + others[::max(1, len(others) // 50)]
    (device_fs / "sessions").mkdir()
    (device_fs / "sessions" / "000001.rrl").write_bytes(data)
    # A large heap keeps the garbage collector from running: the WASI build's GC misses
    # heap-allocated frames held only in wasm locals and corrupts them (see docs/log-format.md).
    got = mpy.eval(MPY_CUTS.replace("CUTS", json.dumps(cuts)), fs=device_fs, heap_kb=NO_GC_HEAP_KB)
    st = store.SessionStore(str(tmp_path / "ref"))
    for cut, answer in zip(cuts, got, strict=True):
        with open(st.path(2), "wb") as f:
            f.write(data[:cut])
        st.recover_all()
        if not os.path.exists(st.path(2)):
            assert answer is None, f"cut {cut}"
            continue
        ref = _read(st.path(2))
        assert answer == [len(ref), binascii.crc32(ref) & 0xFFFF], f"cut {cut}"
        _check_recovered(st.path(2), data, frames, cut)
        st.delete(2)


class FakeFlash:
    """Free space that shrinks as session files grow (capacity in KB)."""

    def __init__(self, root, capacity_kb):
        self.root = root
        self.capacity_kb = capacity_kb

    def __call__(self):
        used = 0
        for dirpath, _, files in os.walk(self.root):
            used += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        return self.capacity_kb - used // 1024


def _old_session(st, sid, kb, synced):
    with open(st.path(sid), "wb") as f:
        f.write(bytes(kb * 1024))
    if synced:
        st.mark_synced(sid)


def test_storage_full_deletes_oldest_synced_never_unsynced(tmp_path):
    flash = FakeFlash(tmp_path, capacity_kb=170)
    st = store.SessionStore(str(tmp_path), free_kb=flash, min_free_kb=100)
    _old_session(st, 1, 60, synced=True)
    _old_session(st, 2, 30, synced=False)
    _old_session(st, 3, 8, synced=True)
    assert flash() < 100
    w = store.SessionWriter(store=st, now_ms=0, flush_ms=1000)
    assert st.ids() == [2, 3, 4], "the oldest synced session goes first, the unsynced stays"
    t = 0
    for i in range(20000):
        t += 1000
        w.sample(t, 2000, 0, i, 170, 0)
        if w.full:
            break
    assert w.full, "the writer must stop logging samples when flash stays full"
    assert 2 in st.ids(), "an unsynced session is never deleted"
    assert 3 not in st.ids()
    size = w.status()["bytes"]
    for _ in range(30):
        t += 1000
        w.sample(t, 2000, 0, 5000, 170, 0)
    w.event(t, wire.EV_ALERT, wire.ALERT_WARNING, 2000)  # warnings are still logged
    w.flush()
    assert w.status()["storage_full"] and w.status()["dropped_samples"] >= 30
    assert w.status()["bytes"] <= size + 2 * (wire.LOG_EVENT_SIZE + wire.LOG_FRAME_OVERHEAD)
    st.mark_synced(2)
    st.delete(2)  # the host synced and freed space: logging resumes
    w.flush()
    assert not w.full
    w.close(t + 10)
    records, problems = logdecode.decode(_read(st.path(4)))
    assert problems == []
    storage = [r for r in records if r["kind"] == "event" and r["event"] == "storage"]
    assert [r["full"] for r in storage] == [1, 0]
    assert records[-1]["storage_full"]


def test_synced_markers_and_session_list(tmp_path):
    st = store.SessionStore(str(tmp_path))
    w = store.SessionWriter(store=st, now_ms=5)
    w.sample(1005, 1000, 0, 1, 100, 0)
    listing = {s["id"]: s for s in st.list()}
    assert listing[1]["recording"] and not listing[1]["complete"]
    w.close(2000)
    listing = {s["id"]: s for s in st.list()}
    assert listing[1]["complete"] and not listing[1]["synced"] and not listing[1]["recording"]
    st.mark_synced(1)
    assert st.list()[0]["synced"]
    with pytest.raises(OSError):
        st.mark_synced(9)
    # a marker whose log is gone (cut between the two deletions) is cleaned at boot
    os.remove(st.path(1))
    st.recover_all()
    assert sorted(os.listdir(st.dir)) == ["last_id", "reserve"]
    # ids never come back, even after every session was deleted
    w = store.SessionWriter(store=st, now_ms=0)
    w.close(10)
    assert w.session_id == 2 and st.ids() == [2]


def test_complete_records_reach_the_file_within_the_flush_interval(tmp_path):
    st = store.SessionStore(str(tmp_path))
    w = store.SessionWriter(store=st, now_ms=0, flush_ms=5000)
    path = st.path(w.session_id)
    header_size = os.path.getsize(path)
    assert header_size > 0, "the header is written at once"
    w.event(100, wire.EV_BUTTON, 1, 0)
    assert os.path.getsize(path) == header_size
    w.poll(4999)
    assert os.path.getsize(path) == header_size
    w.poll(5100)
    assert os.path.getsize(path) == header_size + 15
    for i in range(12):  # a full block is a complete record
        w.sample(5200 + i * 100, 1000, 0, i, 100, 0)
    w.poll(10200)
    records, _ = logdecode.decode(_read(path))
    assert sum(1 for r in records if r["kind"] == "sample") == 12


def test_snapshot_ring_writes_the_window_around_a_warning(tmp_path):
    st = store.SessionStore(str(tmp_path))
    w = store.SessionWriter(store=st, now_ms=0)
    ring = SnapshotRing(w, period_ms=20, seconds=3.0)
    t = 0
    for i in range(400):
        t += 20
        ring.feed(t, 5000 - 10 * i)
        if i == 200:
            ring.trigger(t, wire.ALERT_WARNING)
        if i % 5 == 0:  # the app's storage task, every 100 ms
            ring.write()
    ring.write()
    w.close(t)
    records, problems = logdecode.decode(_read(st.path(1)))
    assert problems == []
    snaps = [r for r in records if r["kind"] == "snapshot"]
    readings = [d for s in snaps for d in s["distances_mm"]]
    assert len(readings) == 150
    assert readings == [5000 - 10 * i for i in range(200 - 75 + 1, 200 + 75 + 1)]
    assert snaps[0]["t_ms"] == 20 * (200 - 75 + 2)
    assert snaps[0]["level"] == wire.ALERT_WARNING


class _Trickle:
    """A file that hands out at most `step` bytes per read (short reads are legal)."""

    def __init__(self, data, step):
        self.data = data
        self.pos = 0
        self.step = step

    def readinto(self, buf):
        n = min(len(buf), self.step, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize("step", [1, 7, 300, 5000])
def test_scan_file_window_handles_short_reads_and_damage(session_bytes, step):
    data = bytearray(session_bytes)
    frames = frames_of(bytes(data))
    victim = frames[len(frames) // 2]
    data[victim[0] + 3] ^= 0xFF  # one damaged frame in the middle
    data += b"\xa5\x02\x40tail"  # and a torn tail
    seen = []
    end, count, skipped = logfmt.scan_file(_Trickle(bytes(data), step),
                                           lambda buf, pos, off: seen.append(off),
                                           bytearray(600))
    assert seen == [o for o, _ in frames if o != victim[0]]
    assert count == len(frames) - 1 and skipped == victim[1]
    assert end == len(session_bytes)


def test_a_write_refused_for_lack_of_space_marks_storage_full(tmp_path):
    st = store.SessionStore(str(tmp_path), free_kb=lambda: None)  # free space unknown (WASI)
    w = store.SessionWriter(store=st, now_ms=0)
    real = w._file

    class FullFile:
        def write(self, data):
            raise OSError(28, "ENOSPC")

        def flush(self):
            pass

        def close(self):
            real.close()

    w._file = FullFile()
    w.event(10, wire.EV_BUTTON, 1, 0)
    w.flush()
    assert w.status()["storage_full"]
    w.sample(1000, 1000, 0, 1, 100, 0)
    assert w.status()["dropped_samples"] == 1
    w._file = FullFile()
    with pytest.raises(OSError):  # any other error is not swallowed
        def broken(data):
            raise OSError(5, "EIO")
        w._file.write = broken
        w.event(20, wire.EV_BUTTON, 1, 0)
        w.flush()
