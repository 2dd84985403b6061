"""The virtual board's asyncio (host/retrorun/vboard/device/asyncio.py) against CPython's.

Each program runs under CPython's asyncio and under ours in real MicroPython; both must log the
same events in the same order. Sleeps are short and far apart (>= 10 ms) so that CPython's real
clock gives one well-defined order. MicroPython runs without the vboard's `_vb`, so our asyncio
waits with the real clock there; the virtual-time case is in test_app_repl.py.
"""

from __future__ import annotations

import json
import shutil

import pytest

from retrorun.vboard.repl import DEVICE_DIR

PROGRAMS = {
    "create_task_and_sleep_order": """
async def worker(name, d):
    log.append(name + ' start')
    await asyncio.sleep(d)
    log.append(name + ' end')
    return name

async def main():
    t1 = asyncio.create_task(worker('a', 0.03))
    t2 = asyncio.create_task(worker('b', 0.01))
    log.append('created')
    await asyncio.sleep(0)
    log.append('main after sleep0')
    log.append(await t2)
    log.append(await t1)
    return 'done'

log.append(asyncio.run(main()))
""",
    "sleep0_round_robin": """
async def spin(name, n):
    for i in range(n):
        log.append(name + str(i))
        await asyncio.sleep(0)

async def main():
    await asyncio.gather(spin('x', 3), spin('y', 2), spin('z', 3))

asyncio.run(main())
""",
    "gather_results_and_exceptions": """
async def ok(v, d):
    await asyncio.sleep(d)
    log.append('ok ' + str(v))
    return v

async def bad(d):
    await asyncio.sleep(d)
    log.append('bad raises')
    raise ValueError('boom')

async def main():
    log.append(repr(await asyncio.gather(ok(1, 0.02), ok(2, 0.01), ok(3, 0))))
    r = await asyncio.gather(ok(4, 0.01), bad(0.02), return_exceptions=True)
    log.append(repr([type(x).__name__ for x in r]))
    try:
        await asyncio.gather(bad(0.01), ok(5, 0.03))
    except ValueError as e:
        log.append('caught ' + str(e))
    await asyncio.sleep(0.05)
    log.append(repr(await asyncio.gather()))

asyncio.run(main())
""",
    "event_wakes_all_waiters_in_order": """
async def waiter(name, ev):
    log.append(name + ' waits')
    await ev.wait()
    log.append(name + ' woke ' + str(ev.is_set()))

async def main():
    ev = asyncio.Event()
    tasks = [asyncio.create_task(waiter(n, ev)) for n in 'abc']
    await asyncio.sleep(0.01)
    log.append('set')
    ev.set()
    log.append('after set')
    await asyncio.gather(*tasks)
    ev.clear()
    log.append('cleared ' + str(ev.is_set()))
    await ev.wait() if ev.is_set() else None
    ev.set()
    log.append(str(await ev.wait()))

asyncio.run(main())
""",
    "cancel_sleeping_task": """
async def sleeper():
    try:
        log.append('sleeping')
        await asyncio.sleep(1)
        log.append('not reached')
    except asyncio.CancelledError:
        log.append('cancelled inside')
        raise
    finally:
        log.append('finally')

async def main():
    t = asyncio.create_task(sleeper())
    await asyncio.sleep(0.01)
    log.append('cancel ' + str(t.cancel()))
    try:
        await t
    except asyncio.CancelledError:
        log.append('await raised CancelledError')
    log.append('cancelled ' + str(t.cancelled()) + ' done ' + str(t.done()))
    log.append('cancel again ' + str(t.cancel()))

asyncio.run(main())
""",
    "wait_for_timeout_and_success": """
async def slow(name, d):
    try:
        await asyncio.sleep(d)
        log.append(name + ' finished')
        return name
    finally:
        log.append(name + ' cleanup')

async def main():
    try:
        await asyncio.wait_for(slow('slow', 1), 0.02)
    except asyncio.TimeoutError:
        log.append('timed out')
    log.append(await asyncio.wait_for(slow('fast', 0.01), 0.5))
    try:
        await asyncio.wait_for(slow('zero', 0.01), 0)
    except asyncio.TimeoutError:
        log.append('zero timeout')

asyncio.run(main())
""",
    "lock_fifo_and_async_with": """
async def user(name, lock, d):
    log.append(name + ' wants')
    async with lock:
        log.append(name + ' has ' + str(lock.locked()))
        await asyncio.sleep(d)
    log.append(name + ' released')

async def main():
    lock = asyncio.Lock()
    await asyncio.gather(user('a', lock, 0.02), user('b', lock, 0.01), user('c', lock, 0))
    log.append('free ' + str(lock.locked()))

asyncio.run(main())
""",
    "current_task_and_nested_awaits": """
async def inner(d):
    await asyncio.sleep(d)
    return d * 1000

async def middle():
    me = asyncio.current_task()
    t = asyncio.create_task(inner(0.01))
    r = await t
    log.append('middle got ' + str(int(r)) + ' same ' + str(asyncio.current_task() is me))
    return int(r) + 1

async def main():
    log.append(str(await middle()))
    log.append(str(await asyncio.create_task(middle())))

asyncio.run(main())
""",
    "run_cancels_leftover_tasks": """
async def forever(name):
    try:
        while True:
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        log.append(name + ' cancelled at exit')
        raise

async def main():
    asyncio.create_task(forever('bg'))
    await asyncio.sleep(0.025)
    log.append('main returns')
    return 7

log.append(asyncio.run(main()))
""",
    "exception_propagates_through_await": """
async def fails():
    await asyncio.sleep(0.01)
    raise KeyError('k')

async def main():
    t = asyncio.create_task(fails())
    try:
        await t
    except KeyError:
        log.append('KeyError from task')
    log.append('done ' + str(t.done()) + ' ' + type(t.exception()).__name__)
    try:
        await asyncio.wait_for(fails(), 1)
    except KeyError:
        log.append('KeyError through wait_for')

asyncio.run(main())
""",
}


def _wrap(body: str) -> str:
    return "import asyncio\nlog = []\n" + body + "\nresult = log\n"


def _cpython(code: str) -> list:
    namespace: dict = {}
    exec(compile(code, "<program>", "exec"), namespace)
    return json.loads(json.dumps(namespace["result"]))


@pytest.fixture(scope="module")
def aio_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aio")
    shutil.copy(DEVICE_DIR / "asyncio.py", folder / "asyncio.py")
    return folder


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_same_event_order_as_cpython(name, mpy, aio_dir):
    code = _wrap(PROGRAMS[name])
    expected = _cpython(code)
    assert len(expected) >= 3, "the program must log a real sequence of events"
    got = mpy.eval(code, fs=aio_dir)
    assert got == expected


def test_ours_is_the_module_under_test(mpy, aio_dir):
    """MicroPython must import our asyncio.py (the WASI build has no asyncio package)."""
    got = mpy.eval("import asyncio\nresult = [asyncio.__file__, hasattr(asyncio, "
                   "'ThreadSafeFlag')]", fs=aio_dir)
    assert got == ["asyncio.py", True] or (got[0].endswith("/asyncio.py") and got[1])
