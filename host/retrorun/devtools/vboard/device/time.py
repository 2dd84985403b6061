# Virtual time for the retrorun virtual board (shadows the built-in time module, which a file
# may do: `time` is an extensible built-in). ticks_* count from the virtual board's boot and wrap
# as on the esp32 port (period 2**30: ticks_ms about 12.4 days, ticks_us about 18 minutes), on
# every runtime, also the 64-bit native one; sleeping advances virtual time instead of waiting,
# so a 10-minute run takes as long as its computation. Not used on a real board.
from micropython import const

import _vb

_b = _vb.btime
_c = _vb.call
_PERIOD = const(1 << 30)
_HALF = const(1 << 29)
mktime = _b.mktime


def ticks_diff(a, b):
    return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF


def ticks_add(t, delta):
    return (t + delta) & (_PERIOD - 1)


def ticks_ms():
    return int(_c("m"))


def ticks_us():
    return int(_c("t"))


ticks_cpu = ticks_us


def time():
    return int(_c("T"))


def time_ns():
    return int(_c("N"))


def gmtime(secs=None):
    return _b.gmtime(time() if secs is None else secs)


def localtime(secs=None):
    return _b.localtime(time() if secs is None else secs)


def sleep_us(us):
    _vb.sleep_us(int(us))


def sleep_ms(ms):
    _vb.sleep_us(int(ms) * 1000)


def sleep(s):
    _vb.sleep_us(int(s * 1000000))
