# select for the retrorun virtual board (shadows the built-in, an extensible module): poll() over
# objects with an ioctl method (io.IOBase subclasses such as asyncio's ThreadSafeFlag, the
# board's UART) and sys.stdin (the serial console, fed by the host), where waiting lets virtual
# time pass on the host instead of the wall clock, and the interrupt handlers due meanwhile run
# first, as on a board, where they run while the CPU waits. Other streams are polled with the
# built-in select without waiting. Not used on a real board.
import sys

import _vb

_bs = _vb.bselect
_stdin_buffer = getattr(sys.stdin, "buffer", None)
POLLIN = _bs.POLLIN
POLLPRI = getattr(_bs, "POLLPRI", 2)
POLLOUT = _bs.POLLOUT
POLLERR = _bs.POLLERR
POLLHUP = _bs.POLLHUP
_MP_STREAM_POLL = 3


def _console(mask):
    """sys.stdin: the host moves the serial input queued for the running code into the VM's
    stdin (see hostcalls._console_in), then the built-in poll says whether there is any."""
    if not mask & POLLIN or int(_vb.call("c")) < 0:
        return 0
    p = _bs.poll()
    p.register(sys.stdin, POLLIN)
    got = p.poll(0)
    return POLLIN if got and got[0][1] & POLLIN else 0


class _Poll:
    def __init__(self):
        self._map = {}  # id(obj) -> [obj, eventmask]

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        self._map[id(obj)] = [obj, eventmask]

    def modify(self, obj, eventmask):
        entry = self._map.get(id(obj))
        if entry is None:
            raise OSError(2)  # ENOENT, as the built-in
        entry[1] = eventmask

    def unregister(self, obj):
        self._map.pop(id(obj), None)

    def _ready(self):
        ready = []
        for obj, mask in self._map.values():
            if obj is sys.stdin or obj is _stdin_buffer:
                ev = _console(mask)
            elif hasattr(obj, "ioctl"):
                ev = obj.ioctl(_MP_STREAM_POLL, mask | POLLERR | POLLHUP)
            else:
                p = _bs.poll()
                p.register(obj, mask)
                got = p.poll(0)
                ev = got[0][1] if got else 0
            if ev:
                ready.append((obj, ev))
        return ready

    def poll(self, timeout=-1):
        ready = self._ready()
        if ready or timeout == 0:
            return ready
        us = -1 if timeout is None or timeout < 0 else int(timeout) * 1000
        while True:
            left = _vb.wait(us)  # returns early when interrupt handlers ran
            ready = self._ready()
            if ready or us == 0 or (us > 0 and left <= 0):
                return ready
            if us > 0:
                us = left

    def ipoll(self, timeout=-1, flags=0):
        return self.poll(timeout)


def poll():
    return _Poll()


def select(rlist, wlist, xlist, timeout=None):
    p = _Poll()
    for o in rlist:
        p.register(o, POLLIN)
    for o in wlist:
        p.register(o, POLLOUT)
    ready = p.poll(-1 if timeout is None else int(timeout * 1000))
    return ([o for o, e in ready if e & POLLIN], [o for o, e in ready if e & POLLOUT], [])
