"""Device session store: session files under /sessions/, buffered appends, boot recovery.

- `SessionStore(root)` lists, recovers, marks synced and deletes sessions, and makes room
  when flash runs low: it never deletes an unsynced session; it deletes the oldest synced ones
  while free space is below `storage.min_free_kb`.
- `SessionWriter(...)` records one session. `sample()`, `event()` and `snapshot()` encode
  into RAM buffers made once (`sample()` allocates nothing); complete records reach the file
  at most `log.flush_ms` after they are complete (`poll(now_ms)`, or any call that finds the
  flush due). Samples are grouped 12 to a record, so a power cut loses at most the open block
  (12 sample periods) plus one flush interval.
- `recover_all()` (at boot): an unfinished session has its torn tail cut at the last valid
  record, then a `recovered` event and a footer flagged RECOVERED appended. Nothing found
  there stops the boot: an entry that cannot be read or holds no record (a folder or a foreign
  file named like a session) is moved aside into /sessions/quarantine/ (neither listed nor
  synced, kept for a person to look at); a reserve file (/sessions/reserve, 8 KB) is given up
  when a full flash refuses the footer, and made again once there is room.
- `SnapshotRing`: keeps the last seconds of full-rate distances; `trigger()` on a warning
  writes a snapshot around it.

Time is injected: every method takes `now_ms` as `time.ticks_ms()` values (wrap-safe); records
carry ms since the session started. Free space comes from an injected function returning
KB (or None when unknown) because `os.statvfs` is missing on some ports.
"""

import os

from retrofw import logfmt, wire
from retrofw.fsutil import exists, remove_quietly, replace
from retrofw.ticks import ticks_diff
from retrofw.version import VERSION

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_WBUF = const(1024)
_BLOCK_MAX = const(12)
_ENOSPC = const(28)
_SUFFIX = ".rrl"
_SYNCED = ".syn"
_TMP = ".tmp"
_LAST_ID = "last_id"
_QUARANTINE = "quarantine"
_RESERVE = "reserve"
_RESERVE_KB = const(8)  # two littlefs blocks: room for any footer on a full flash


def statvfs_free_kb(path):
    """Free KB from os.statvfs, or None where the port lacks it (WASI build: ENOSYS)."""
    try:
        st = os.statvfs(path)  # type: ignore[attr-defined]
    except (OSError, AttributeError):
        return None
    return st[0] * st[4] // 1024


class SessionStore:
    """The /sessions/ folder: one `<id>.rrl` file per session, `<id>.syn` once synced."""

    def __init__(self, root="/", free_kb=None, min_free_kb=256):
        root = root.rstrip("/")
        self.root = root or "/"
        self.dir = root + "/sessions"
        self.min_free_kb = min_free_kb
        self._free_kb = free_kb
        self.active = -1  # session being recorded: never deleted, never "recovered"
        for path in (root, self.dir):
            if path:
                try:
                    os.mkdir(path)
                except OSError:
                    pass

    def path(self, sid):
        return "%s/%06d%s" % (self.dir, sid, _SUFFIX)

    def free_kb(self):
        if self._free_kb is not None:
            return self._free_kb()
        return statvfs_free_kb(self.root)

    def ids(self):
        """Session ids, oldest first."""
        out = []
        for name in os.listdir(self.dir):
            if name.endswith(_SUFFIX) and len(name) == 10 and name[:6].isdigit():
                out.append(int(name[:6]))
        out.sort()
        return out

    def synced(self, sid):
        return exists("%s/%06d%s" % (self.dir, sid, _SYNCED))

    def size(self, sid):
        try:
            return os.stat(self.path(sid))[6]
        except OSError:
            return -1

    def info(self, sid):
        """{"id", "size", "synced", "complete", "recording"} for one session."""
        size = self.size(sid)
        return {"id": sid, "size": size, "synced": self.synced(sid),
                "complete": self._has_footer(sid, size), "recording": sid == self.active}

    def list(self):
        return [self.info(sid) for sid in self.ids()]

    def sha256(self, sid, chunk):
        """(size, SHA-256 digest) of a session file, read through `chunk` (a bytearray)."""
        import hashlib

        h = hashlib.sha256()
        size = 0
        mv = memoryview(chunk)
        with open(self.path(sid), "rb") as f:
            while True:
                n = f.readinto(chunk)
                if not n:
                    break
                h.update(mv[:n])
                size += n
        return size, h.digest()

    def next_id(self):
        """One more than any id ever used here, even when those sessions were deleted (the
        host names sessions by id: an id must never come back)."""
        ids = self.ids()
        last = ids[-1] if ids else 0
        try:
            with open(self.dir + "/" + _LAST_ID) as f:
                stored = int(f.read().strip())
            if stored > last:
                last = stored
        except (OSError, ValueError):
            pass
        return last + 1

    def claim(self, sid):
        """Record sid as used (temp file + rename, so a cut leaves the old value)."""
        tmp = self.dir + "/" + _LAST_ID + _TMP
        with open(tmp, "w") as f:
            f.write(str(sid))
        replace(tmp, self.dir + "/" + _LAST_ID)

    def mark_synced(self, sid):
        if self.size(sid) < 0:
            raise OSError(2, "no session %d" % sid)
        with open("%s/%06d%s" % (self.dir, sid, _SYNCED), "wb"):
            pass

    def delete(self, sid):
        """Delete a session (the log first, so a cut leaves no log without its marker)."""
        remove_quietly(self.path(sid))
        remove_quietly("%s/%06d%s" % (self.dir, sid, _SYNCED))

    def make_room(self):
        """Delete the oldest synced sessions while free space is below the threshold.

        Never deletes an unsynced or the active session. Returns free KB afterwards (None when
        unknown: nothing is deleted then)."""
        free = self.free_kb()
        if free is None or free >= self.min_free_kb:
            return free
        for sid in self.ids():
            if sid != self.active and self.synced(sid):
                self.delete(sid)
                free = self.free_kb()
                if free is None or free >= self.min_free_kb:
                    break
        return free

    def _has_footer(self, sid, size):
        n = wire.LOG_FOOTER_SIZE + wire.LOG_FRAME_OVERHEAD
        if size < n:
            return False
        with open(self.path(sid), "rb") as f:
            f.seek(size - n)
            tail = f.read(n)
        return logfmt.is_footer_at_end(tail, len(tail))

    def cleanup(self):
        """Remove leftovers of a cut: temp files and markers without a log."""
        for name in os.listdir(self.dir):
            if name.endswith(_TMP):
                remove_quietly(self.dir + "/" + name)
            elif name.endswith(_SYNCED) and not exists(self.dir + "/" + name[:-4] + _SUFFIX):
                remove_quietly(self.dir + "/" + name)

    def recover_all(self):
        """Boot recovery of every unfinished session; never raises for what it finds.
        Returns [(id, dropped bytes)], -1 for an entry moved into quarantine."""
        try:
            self.cleanup()
        except OSError:  # /sessions is not a folder: aside with it, start a new one
            self._aside(self.dir, self.dir + ".bad")
            try:
                os.mkdir(self.dir)
            except OSError:
                return []
        done = []
        for sid in self.ids():
            if sid == self.active:
                continue
            try:
                if not self._has_footer(sid, self.size(sid)):
                    done.append((sid, self._recover_or_free(sid)))
            except OSError:  # a folder, an unreadable file: never fatal
                self.quarantine(sid)
                done.append((sid, -1))
        self.keep_reserve()
        return done

    def _recover_or_free(self, sid):
        try:
            return self.recover(sid)
        except OSError as exc:
            remove_quietly(self.path(sid) + _TMP)
            if not (exc.args and exc.args[0] == _ENOSPC):
                raise
        remove_quietly(self.dir + "/" + _RESERVE)  # the flash is full: the reserve makes room
        self.make_room()
        try:
            return self.recover(sid)
        except OSError as exc:
            remove_quietly(self.path(sid) + _TMP)
            if exc.args and exc.args[0] == _ENOSPC:
                return 0  # left unfinished (sync still takes it); the next boot tries again
            raise

    def keep_reserve(self):
        """Make the reserve file if it is missing and the flash has room for it."""
        path = self.dir + "/" + _RESERVE
        if exists(path):
            return
        free = self.free_kb()
        if free is not None and free < self.min_free_kb + _RESERVE_KB:
            return
        try:
            with open(path, "wb") as f:
                block = bytes(1024)
                for _ in range(_RESERVE_KB):
                    f.write(block)
        except OSError:
            remove_quietly(path)

    def quarantine(self, sid):
        """Move session `sid` (file or folder) and its marker into /sessions/quarantine/."""
        qdir = self.dir + "/" + _QUARANTINE
        try:
            os.mkdir(qdir)
        except OSError:
            pass
        name = "%06d%s" % (sid, _SUFFIX)
        dst = qdir + "/" + name
        n = 0
        while exists(dst):
            n += 1
            dst = "%s/%s.%d" % (qdir, name, n)
        if not self._aside(self.path(sid), dst):
            self._aside(self.path(sid), self.path(sid) + ".bad")
        remove_quietly("%s/%06d%s" % (self.dir, sid, _SYNCED))

    @staticmethod
    def _aside(src, dst):
        try:
            os.rename(src, dst)
            return True
        except OSError:
            return False

    def recover(self, sid):
        """Cut a torn tail at the last valid record and append a recovered footer.

        Returns the number of bytes dropped; a file with no valid record is not a session of
        this firmware: it goes into quarantine (-1)."""
        path = self.path(sid)
        size = self.size(sid)
        summary = logfmt.Summary()

        def fold(buf, pos, _offset):
            summary.add_frame(buf, pos)

        with open(path, "rb") as f:
            good_end, frames, _skipped = logfmt.scan_file(f, fold)
        if frames == 0:
            self.quarantine(sid)
            return -1
        dropped = size - good_end
        buf = bytearray(64)
        p = logfmt.encode_event_into(buf, 0, summary.duration_ms, wire.EV_RECOVERED, 0, dropped)
        p = logfmt.encode_footer_into(buf, p, summary, wire.FOOTER_RECOVERED)
        if dropped == 0:
            with open(path, "ab") as f:
                f.write(buf[:p])
            return 0
        tmp = path + _TMP
        chunk = bytearray(512)
        left = good_end
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            while left > 0:
                got = src.readinto(chunk)
                if not got:
                    break
                take = got if got < left else left
                dst.write(chunk if take == len(chunk) else chunk[:take])
                left -= take
            dst.write(buf[:p])
        replace(tmp, path)
        return dropped


class SessionWriter:
    """Records one session into /sessions/<id>.rrl.

    root: filesystem root holding sessions/ (default "/"); now_ms: ticks_ms() at the start;
    free_kb: function returning free KB or None (default: os.statvfs when present).
    """

    def __init__(self, root="/", now_ms=0, config_hash=0, sample_period_ms=1000,
                 flush_ms=5000, min_free_kb=256, free_kb=None, board="", start_unix=0,
                 firmware=VERSION, store=None):
        self.store = store if store is not None else SessionStore(root, free_kb, min_free_kb)
        self.store.make_room()
        self.session_id = self.store.next_id()
        self.store.claim(self.session_id)
        self.store.active = self.session_id
        self.t0 = now_ms
        self.start_unix = start_unix
        self.flush_ms = flush_ms
        self.buf = bytearray(_WBUF)
        self.n = 0
        self.block = logfmt.SampleBlock()
        self.summary = logfmt.Summary()
        self.last_flush = now_ms
        self.full = False
        self.dropped_samples = 0
        self.bytes_written = 0
        self.closed = False
        self._file = open(self.store.path(self.session_id), "wb")
        self.n = logfmt.encode_header_into(self.buf, 0, self.session_id, start_unix,
                                           config_hash, sample_period_ms, firmware, board)
        self.flush()

    def _t(self, now_ms):
        t = ticks_diff(now_ms, self.t0)
        return t if t > 0 else 0

    def _room(self, need):
        if self.n + need > _WBUF:
            self.flush()

    def _push_block(self):
        size = self.block.seal()
        self._room(size)
        src = self.block.buf
        dst = self.buf
        n = self.n
        for i in range(size):
            dst[n + i] = src[i]
        self.n = n + size
        self.block.count = 0

    def sample(self, now_ms, distance_mm, alert, steps, cadence, trunk_deg10):
        """One periodic sample; allocates nothing unless the flush falls due."""
        t = self._t(now_ms)
        self.summary.sample(t, distance_mm, steps, cadence)
        if self.full:
            self.dropped_samples += 1
        else:
            if not self.block.fits(t, steps):
                self._push_block()
            if self.block.add(t, distance_mm, alert, steps, cadence, trunk_deg10) >= _BLOCK_MAX:
                self._push_block()
        self.poll(now_ms)

    def event(self, now_ms, event, a=0, b=0):
        """One event (wire.EV_*); written even when storage is full (they are small)."""
        t = self._t(now_ms)
        self.summary.event(t, event, a, b)
        self._room(wire.LOG_EVENT_SIZE + wire.LOG_FRAME_OVERHEAD)
        self.n = logfmt.encode_event_into(self.buf, self.n, t, event, a, b)
        self.poll(now_ms)

    def snapshot(self, t_first_ms, period_ms, level, readings, start, count):
        """Full-rate distances readings[start:start+count] (ring order already resolved),
        the first taken at t_first_ms (ticks). Skipped while storage is full."""
        if self.full:
            return
        t = self._t(t_first_ms)
        part = 0
        while count > 0:
            self._room(wire.LOG_PAYLOAD_MAX + wire.LOG_FRAME_OVERHEAD)
            self.n, k = logfmt.encode_snapshot_into(self.buf, self.n, t, period_ms, level, part,
                                                    readings, start, count)
            t += k * period_ms
            start += k
            count -= k
            part += 1

    def poll(self, now_ms):
        """Flush when the flush interval has passed since the last flush."""
        if ticks_diff(now_ms, self.last_flush) >= self.flush_ms:
            self.last_flush = now_ms
            if self.n:
                self.flush()

    def flush(self):
        """Write the complete records held in RAM and apply the storage-full policy."""
        if self.n:
            try:
                self._file.write(self.buf if self.n == _WBUF else memoryview(self.buf)[0:self.n])
                self._file.flush()
                self.bytes_written += self.n
            except OSError as exc:
                if exc.args and exc.args[0] == _ENOSPC:
                    self._set_full(True, 0)
                else:
                    raise
            self.n = 0
        self._check_space()

    def _check_space(self):
        free = self.store.free_kb()
        if free is None:
            return
        if free < self.store.min_free_kb:
            free = self.store.make_room()
        if free is None:
            return
        if not self.full and free < self.store.min_free_kb:
            self._set_full(True, free)
        elif self.full and free >= self.store.min_free_kb:
            self._set_full(False, free)

    def _set_full(self, full, free):
        if full == self.full:
            return
        self.full = full
        if full:
            self.block.count = 0
        t = self.summary.duration_ms
        self.summary.event(t, wire.EV_STORAGE, 1 if full else 0, free)
        if self.n + 15 <= _WBUF:
            self.n = logfmt.encode_event_into(self.buf, self.n, t, wire.EV_STORAGE,
                                              1 if full else 0, free)

    def close(self, now_ms):
        """Write the open sample block and the footer; close the file."""
        if self.closed:
            return
        self.summary.seen(self._t(now_ms))
        if self.block.count and not self.full:
            self._push_block()
        self._room(wire.LOG_FOOTER_SIZE + wire.LOG_FRAME_OVERHEAD)
        self.n = logfmt.encode_footer_into(self.buf, self.n, self.summary, 0)
        self.flush()
        self._file.close()
        self.closed = True
        self.store.active = -1

    def status(self):
        return {"session": self.session_id, "bytes": self.bytes_written + self.n,
                "storage_full": self.full, "dropped_samples": self.dropped_samples}
