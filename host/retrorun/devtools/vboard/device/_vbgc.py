# gc for the retrorun virtual board, installed as sys.modules["gc"] by the bootstrap (the
# built-in gc is not extensible, so a file cannot shadow it). The WASI MicroPython's collector
# can free the frame of a running function (docs/vboard-app.md), so unless the board was started
# with real_gc=True, automatic collection is off and collect()/enable() do nothing: the board has
# a big heap instead. mem_alloc()/mem_free() are the real figures. Not used on a real board.
import _vb

_g = _vb.bgc
mem_alloc = _g.mem_alloc
mem_free = _g.mem_free
isenabled = _g.isenabled
disable = _g.disable
threshold = _g.threshold


def collect():
    if _vb.REAL_GC:
        return _g.collect()
    return None


def enable():
    if _vb.REAL_GC:
        _g.enable()
