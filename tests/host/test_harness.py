"""The MicroPython harness measures what it claims to."""

import pytest

from retrorun.devtools.mpy import MicroPythonError


def test_runs_real_micropython(mpy):
    assert mpy.eval("import sys\nresult = sys.implementation.name") == "micropython"


def test_heap_is_esp32_sized(mpy):
    total = mpy.eval("import gc\nresult = gc.mem_free() + gc.mem_alloc()")
    assert 100_000 < total < 120_000


def test_mem_delta_sees_allocation(mpy):
    result = mpy.eval("""
buf = bytearray(4)
def alloc(n):
    return bytearray(n)
def poke(b):
    b[0] = 7
result = [mem_delta(alloc, 1000), mem_delta(poke, buf)]
""")
    assert result[0] >= 1000 and result[1] == 0


def test_no_alloc_raises_on_allocation(mpy):
    with pytest.raises(MicroPythonError, match="MemoryError"):
        mpy.eval("""
def alloc(n):
    return [n, n]
no_alloc(alloc, 1)
result = 1
""")
    assert mpy.eval("""
buf = bytearray(2)
def poke(b):
    b[1] = 3
no_alloc(poke, buf)
result = buf[1]
""") == 3


def test_fuel_is_deterministic_and_scales(mpy):
    code = """
def loop(n):
    s = 0
    for i in range(n):
        s += i
result = [fuel_of(loop, 100), fuel_of(loop, 1000)]
"""
    first = mpy.eval(code)
    assert first == mpy.eval(code)
    small, large = first
    assert 5 < large / small < 15


def test_device_files_land_on_host_disk(mpy, device_fs):
    mpy.eval("""
import os
os.mkdir('/sessions')
with open('/sessions/a.bin', 'wb') as f:
    f.write(b'hello')
result = os.listdir('/')
""", fs=device_fs)
    assert (device_fs / "sessions" / "a.bin").read_bytes() == b"hello"


def test_host_functions_reach_python(mpy):
    seen = []

    def echo(payload: str) -> str:
        seen.append(payload)
        return payload.upper()

    assert mpy.eval("import host\nresult = host.call('echo', 'abc')", host={"echo": echo}) == "ABC"
    assert seen == ["abc"]


def test_error_carries_traceback(mpy):
    with pytest.raises(MicroPythonError, match="ZeroDivisionError"):
        mpy.eval("result = 1 // 0")
