"""MicroPython's own asyncio (frozen in the native Unix port) on the virtual board's clock.

The board has no event loop of its own: these tests check the clock, sleeps and interrupts that
the port's asyncio runs on. Expected times come from the programs themselves (a sleep of 10 ms
ends 10 ms later), not from the board's code.
"""

from __future__ import annotations

import time

import pytest
from app_helpers import Output

from retrorun.devtools.vboard.repl import AppDevice

pytestmark = pytest.mark.micropython


@pytest.fixture
def board(tmp_path):
    out = Output()
    device = AppDevice(tmp_path, out)
    assert device.wait_idle(20)
    device.out = out
    device.on_data(b"\x01")
    assert device.wait_idle()
    yield device
    device.close()


def run(device, code: str, timeout: float = 60) -> str:
    device.out.take()
    device.on_data(code.encode() + b"\x04")
    assert device.wait_idle(timeout)
    out = device.out.take()
    assert out.startswith(b"OK") and out.endswith(b"\x04\x04>"), out
    return out[2:-3].decode().replace("\r\n", "\n")


def test_the_asyncio_is_the_ports_frozen_one(board):
    out = run(board, "import asyncio, sys\nprint(asyncio.__file__, sys.implementation.name,"
                     " sys.implementation.version[:2] >= (1, 28))")
    assert out.split() == ["asyncio/__init__.py", "micropython", "True"]


def test_ten_virtual_minutes_of_tasks_take_seconds(board):
    start = time.monotonic()
    out = run(board, "import asyncio, time\nn = [0, 0]\n"
                     "async def tick(i, ms):\n    while True:\n        await asyncio.sleep_ms(ms)\n"
                     "        n[i] += 1\n"
                     "async def main():\n    t0 = time.ticks_ms()\n"
                     "    asyncio.create_task(tick(0, 100))\n    asyncio.create_task(tick(1, 1000))\n"
                     "    await asyncio.sleep(600)\n    return time.ticks_diff(time.ticks_ms(), t0)\n"
                     "print(asyncio.run(main()), n)")
    real = time.monotonic() - start
    elapsed, counts = out.split(" ", 1)
    assert int(elapsed) == 600_000
    assert eval(counts) in ([5999, 599], [6000, 600], [5999, 600], [6000, 599])
    print(f"10 virtual minutes: {real:.1f} s real")
    assert real < 60  # at least 10x faster than real time, on a loaded 2-core machine


def test_sleepers_wake_in_time_order_at_their_virtual_times(board):
    out = run(board, "import asyncio, time\nlog = []\n"
                     "async def s(ms):\n    t0 = time.ticks_ms()\n    await asyncio.sleep_ms(ms)\n"
                     "    log.append((ms, time.ticks_diff(time.ticks_ms(), t0)))\n"
                     "async def main():\n"
                     "    await asyncio.gather(s(30), s(10), s(20), s(0))\n"
                     "asyncio.run(main())\nprint(log)")
    assert eval(out) == [(0, 0), (10, 10), (20, 20), (30, 30)]


def test_a_task_queued_now_runs_now_after_the_board_idled(board):
    """The C half of asyncio stamps tasks queued "now" (create_task, Event.set) with the port's
    real clock; the board's virtual clock must never be behind it, or the first wait jumps."""
    time.sleep(0.5)  # the REPL idles: real time runs on
    out = run(board, "import asyncio, time\n"
                     "async def child(ev):\n    ev.set()\n"
                     "async def main():\n    t0 = time.ticks_ms()\n    ev = asyncio.Event()\n"
                     "    asyncio.create_task(child(ev))\n    await ev.wait()\n"
                     "    t1 = time.ticks_ms()\n    await asyncio.sleep_ms(10)\n"
                     "    return time.ticks_diff(t1, t0), time.ticks_diff(time.ticks_ms(), t0)\n"
                     "print(asyncio.run(main()))")
    assert eval(out) == (0, 10)


def test_a_virtual_clock_behind_the_real_one_would_make_the_first_wait_jump(board):
    """The trap the shifted clock avoids, shown: with asyncio's clock put 5 s behind the port's
    real clock, a task queued by C waits until virtual time catches up."""
    out = run(board, "import asyncio, time, _vb\n"
                     "_vb.C0 = _vb.btime.ticks_add(_vb.btime.ticks_ms(), -5000 - int(_vb.call('a')))\n"
                     "async def main():\n    return time.ticks_ms()\n"
                     "t0 = time.ticks_ms()\n"
                     "print(time.ticks_diff(asyncio.run(main()), t0))")
    assert int(out) >= 4_900


def test_wait_for_times_out_at_the_virtual_deadline(board):
    out = run(board, "import asyncio, time\n"
                     "async def slow():\n    await asyncio.sleep(5)\n"
                     "async def main():\n    t0 = time.ticks_ms()\n    try:\n"
                     "        await asyncio.wait_for_ms(slow(), 250)\n"
                     "    except asyncio.TimeoutError:\n"
                     "        return time.ticks_diff(time.ticks_ms(), t0)\n"
                     "print(asyncio.run(main()))")
    assert int(out) == 250


def test_a_timer_irq_sets_a_threadsafeflag_that_wakes_the_task_each_period(board):
    out = run(board, "import asyncio, time\nfrom machine import Timer\n"
                     "flag = asyncio.ThreadSafeFlag()\n"
                     "t = Timer(0)\n"
                     "async def main():\n    t0 = time.ticks_us()\n"
                     "    t.init(mode=Timer.PERIODIC, period=50, callback=lambda x: flag.set())\n"
                     "    seen = []\n    for i in range(5):\n        await flag.wait()\n"
                     "        seen.append(time.ticks_diff(time.ticks_us(), t0))\n"
                     "    t.deinit()\n    return seen\n"
                     "print(asyncio.run(main()))")
    seen = eval(out)
    assert [round(us / 1000) for us in seen] == [50, 100, 150, 200, 250]
