"""What the warning path leaves for the storage task: the warning snapshot ring and the event queue.

The ranging and motor tasks never touch the flash: a flush, a free-space check or deleting an
old session can take tens of ms (a 4 KB sector erase is 45 ms typical, 400 ms worst case on the
W25Q32 family) and must never stand between a level change and the motor. They leave events in
an `EventQueue` and readings in a `SnapshotRing`, both preallocated and allocation-free; the
app's storage task hands them to the session writer (retrofw.store).

Warning snapshots: the last seconds of full-rate distances around a warning, for the session log.

`SnapshotRing` sits between the ranging task and the session writer (retrofw.store): it keeps
the readings in a preallocated ring and, after a warning, hands the window to
`writer.snapshot()` (record format: docs/log-format.md).
"""

from array import array

from retrofw.ticks import ticks_add


class SnapshotRing:
    """The last `seconds` of full-rate distances; a warning writes them out with as many after.

    feed(now_ms, distance) every reading and trigger(now_ms, level) on a warning (both
    allocate nothing and write nothing: they run on the warning path); once half the window has
    passed after a trigger, the window is copied out and `write()`, from the storage task, hands
    it to writer.snapshot().
    """

    def __init__(self, writer, period_ms, seconds=3.0):
        self.writer = writer
        self.period_ms = period_ms
        self.size = int(seconds * 1000) // period_ms
        if self.size < 2:
            self.size = 2
        self.ring = array("h", bytes(2 * self.size))
        self.out = array("h", bytes(2 * self.size))
        self.count = 0
        self.head = 0
        self.pending = 0  # readings still to take after a trigger
        self.level = 0
        self.last_ms = 0
        self.ready = 0  # readings copied to `out`, waiting for write()
        self.t_first = 0

    def feed(self, now_ms, distance_mm):
        if distance_mm > 32767:
            distance_mm = 32767
        self.ring[self.head] = distance_mm
        self.head = (self.head + 1) % self.size
        if self.count < self.size:
            self.count += 1
        self.last_ms = now_ms
        if self.pending:
            self.pending -= 1
            if self.pending == 0:  # the window is complete: copy it out for write()
                n = self.count
                start = (self.head - n) % self.size
                for i in range(n):
                    self.out[i] = self.ring[(start + i) % self.size]
                self.t_first = ticks_add(self.last_ms, -(n - 1) * self.period_ms)  # type: ignore
                self.ready = n

    def trigger(self, now_ms, level):
        """Start a snapshot around now (ignored while one is being taken)."""
        if self.pending == 0:
            self.level = level
            self.pending = self.size // 2 if self.size > 1 else 1

    def write(self):
        """Hand a taken window to the session writer (the storage task's part)."""
        n = self.ready
        if n:
            self.ready = 0
            self.writer.snapshot(self.t_first, self.period_ms, self.level, self.out, 0, n)


class EventQueue:
    """A ring of (t_ms, event, a, b), the fields of a log event (docs/log-format.md). When it
    is full the newest event is dropped and counted (`dropped`), which a storage task draining
    every 100 ms never lets happen (a 100 Hz sensor changes level at most 10 times in that)."""

    def __init__(self, size=32):
        self.size = size
        self.t = array("i", bytes(4 * size))  # ticks_ms values fit: they wrap at 2**30
        self.kind = bytearray(size)
        self.a = bytearray(size)
        self.b = array("i", bytes(4 * size))
        self.head = 0
        self.count = 0
        self.dropped = 0

    def add(self, t_ms, event, a, b):
        if self.count == self.size:
            self.dropped += 1
            return
        i = (self.head + self.count) % self.size
        self.t[i] = t_ms
        self.kind[i] = event
        self.a[i] = a & 0xFF
        self.b[i] = b
        self.count += 1

    def write(self, writer):
        """Give every waiting event to writer.event(t, ev, a, b), oldest first; forget them
        when there is no writer (no session: nothing to record)."""
        while self.count:
            i = self.head
            if writer is not None:
                writer.event(self.t[i], self.kind[i], self.a[i], self.b[i])
            self.head = (i + 1) % self.size
            self.count -= 1
