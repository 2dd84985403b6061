# Virtual time for the retrorun virtual board (shadows the built-in time module, which a file
# may do: `time` is an extensible built-in). ticks_* count from the virtual board's boot and wrap
# as on the esp32 port (period 2**30: ticks_ms about 12.4 days, ticks_us about 18 minutes), on
# every runtime, also the 64-bit native one; time() counts from 2000-01-01 as on the esp32
# port; sleeping advances virtual time instead of waiting, so a 10-minute run takes as long as
# its computation. Not used on a real board.
from micropython import const

import _vb

_b = _vb.btime
_c = _vb.call
_PERIOD = const(1 << 30)
_HALF = const(1 << 29)
_EPOCH = const(946684800)  # the esp32 port counts from 2000-01-01 (the Unix port from 1970)


def mktime(t):
    return _b.mktime(t) - _EPOCH


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
    return int(_c("T")) - _EPOCH


def time_ns():
    return int(_c("N")) - _EPOCH * 1000000000


def gmtime(secs=None):  # 8 fields, as the esp32 port's (the Unix port adds tm_isdst)
    return tuple(_b.gmtime((time() if secs is None else secs) + _EPOCH))[:8]


def localtime(secs=None):  # the board has no time zone: UTC, as the esp32 port without TZ
    return gmtime(secs)


def sleep_us(us):
    _vb.sleep_us(int(us))


def sleep_ms(ms):
    _vb.sleep_us(int(ms) * 1000)


def sleep(s):
    _vb.sleep_us(int(s * 1000000))
