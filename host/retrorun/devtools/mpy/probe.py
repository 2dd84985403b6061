# Probe helpers prepended to every script run by retrorun.devtools.mpy (MicroPython side only).
# mem_delta(fn, arg): bytes the call allocated on the MicroPython heap (gc.mem_alloc delta).
# no_alloc(fn, arg): call with the heap locked; MemoryError means the call allocated.
# fuel_of(fn, arg): wasmtime fuel (instructions) the call cost, net of the probe's own cost.
# Each takes exactly one argument (pass a tuple for more): a *args call would itself allocate.
import gc as _gc

import micropython as _micropython

import host as _host


def _fuel_now():
    return int(_host.call("fuel", ""))


def mem_delta(fn, arg):
    _gc.collect()
    before = _gc.mem_alloc()
    fn(arg)
    return _gc.mem_alloc() - before


def no_alloc(fn, arg):
    _micropython.heap_lock()
    try:
        fn(arg)
    finally:
        _micropython.heap_unlock()


def _nothing(arg):
    return arg


def fuel_of(fn, arg):
    a = _fuel_now()
    fn(arg)
    b = _fuel_now()
    c = _fuel_now()
    _nothing(arg)
    d = _fuel_now()
    return (a - b) - (c - d)
