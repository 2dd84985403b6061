"""Events waiting for the storage task: the warning path never touches the flash.

The ranging and motor tasks (and every other task) `push` an event here; the app's storage task
hands them to the session writer (retrofw.store), which may flush, check the free space and
delete old sessions: flash work that can take tens of ms (a 4 KB sector erase is 45 ms typical,
400 ms worst case on the W25Q32 family) and must never stand between a level change and the
motor. The queue is preallocated and allocates nothing; when it is full the newest event is
dropped and counted (`dropped`), which a storage task draining every 100 ms never lets happen
(a sensor at 100 Hz changes level at most 10 times in that time).
"""

from array import array


class EventQueue:
    """A ring of (t_ms, event, a, b), the fields of a log event (docs/log-format.md)."""

    def __init__(self, size=32):
        self.size = size
        self.t = array("i", bytes(4 * size))  # ticks_ms values fit: they wrap at 2**30
        self.ev = bytearray(size)
        self.a = bytearray(size)
        self.b = array("i", bytes(4 * size))
        self.head = 0
        self.count = 0
        self.dropped = 0

    def push(self, t_ms, event, a, b):
        if self.count == self.size:
            self.dropped += 1
            return
        i = (self.head + self.count) % self.size
        self.t[i] = t_ms
        self.ev[i] = event
        self.a[i] = a & 0xFF
        self.b[i] = b
        self.count += 1

    def drain(self, writer):
        """Give every waiting event to writer.event(t, ev, a, b), oldest first; forget them
        when there is no writer (no session: nothing to record)."""
        while self.count:
            i = self.head
            if writer is not None:
                writer.event(self.t[i], self.ev[i], self.a[i], self.b[i])
            self.head = (i + 1) % self.size
            self.count -= 1
