# asyncio's clock on the virtual board (native Unix port). The frozen asyncio's Python half reads
# `time.ticks_ms` while its C half (_asyncio) stamps tasks queued "now" with the port's real
# monotonic clock, and both are compared in one ticks domain. So asyncio is imported with this
# module as `time`: virtual milliseconds since boot, shifted to C0 = the port's clock at boot
# + 2**40 ms. The virtual clock is then never behind the real one (it would take 34 years of
# wall time more than virtual time), a task queued "now" by C is always due, and no wait jumps
# ahead. The firmware's `time` (time.py) counts ESP32 ticks from the same virtual clock.
# Not used on a real board.
import _vb

_b = _vb.btime
ticks_add = _b.ticks_add
ticks_diff = _b.ticks_diff


def ticks_ms():
    return ticks_add(_vb.C0, int(_vb.call("a")))
