# asyncio for the retrorun virtual board (the WASI MicroPython has no asyncio package, and a
# board's frozen one is not ours to copy). Written for the vboard: the subset the app uses, with
# CPython's scheduling order (futures with done-callbacks, a FIFO ready queue, timers moved to
# the ready queue once per loop iteration) so the conformance tests can compare event orders
# with CPython's asyncio. Time comes from `time` (virtual on the vboard): when every task sleeps,
# the loop asks the host to jump to the next wake-up instead of waiting; interrupt handlers run
# during that wait and may set a ThreadSafeFlag. On a real board the built-in asyncio runs the
# same application code.
import heapq
import time as _time

try:
    import _vb

    def _idle(ms):
        _vb.wait(-1 if ms is None else ms * 1000)

except ImportError:  # plain MicroPython, outside the vboard

    def _idle(ms):
        _time.sleep_ms(10 if ms is None else ms)


class CancelledError(BaseException):
    pass


class TimeoutError(Exception):  # noqa: A001 - MicroPython has no builtin TimeoutError
    pass


class InvalidStateError(Exception):
    pass


_PENDING = 0
_DONE = 1
_CANCELLED = 2

_ready = []  # [callback, argument] in FIFO order
_timers = []  # heap of [when_ms, seq, callback, argument, cancelled]
_seq = 0
_cur = None
_tasks = set()
_stopping = False
_handler = None
_last = _time.ticks_ms()
_base = 0


def _now():
    global _last, _base
    t = _time.ticks_ms()
    _base += _time.ticks_diff(t, _last)
    _last = t
    return _base


def _call_soon(cb, arg):
    h = [cb, arg, False]
    _ready.append(h)
    return _Handle(h)


def _call_later(ms, cb, arg):
    global _seq
    _seq += 1
    entry = [_now() + ms, _seq, cb, arg, False]
    heapq.heappush(_timers, entry)
    return _TimerHandle(entry)


class _Handle:
    def __init__(self, h):
        self._h = h

    def cancel(self):
        self._h[2] = True


class _TimerHandle:
    def __init__(self, entry):
        self._e = entry

    def cancel(self):
        self._e[4] = True


def _to_ms(seconds):
    ms = seconds * 1000
    i = int(ms)
    return i + 1 if ms > i else i


class Future:
    def __init__(self):
        self._state = _PENDING
        self._result = None
        self._exc = None
        self._callbacks = []

    def done(self):
        return self._state != _PENDING

    def cancelled(self):
        return self._state == _CANCELLED

    def result(self):
        if self._state == _CANCELLED:
            raise CancelledError()
        if self._state == _PENDING:
            raise InvalidStateError("Result is not ready.")
        if self._exc is not None:
            raise self._exc
        return self._result

    def exception(self):
        if self._state == _CANCELLED:
            raise CancelledError()
        if self._state == _PENDING:
            raise InvalidStateError("Exception is not set.")
        return self._exc

    def add_done_callback(self, fn):
        if self._state != _PENDING:
            _call_soon(fn, self)
        else:
            self._callbacks.append(fn)

    def remove_done_callback(self, fn):
        n = len(self._callbacks)
        self._callbacks = [f for f in self._callbacks if f != fn]
        return n - len(self._callbacks)

    def _schedule_callbacks(self):
        cbs = self._callbacks
        self._callbacks = []
        for cb in cbs:
            _call_soon(cb, self)

    def set_result(self, value):
        if self._state != _PENDING:
            raise InvalidStateError("invalid state")
        self._result = value
        self._state = _DONE
        self._schedule_callbacks()

    def set_exception(self, exc):
        if self._state != _PENDING:
            raise InvalidStateError("invalid state")
        if isinstance(exc, type):
            exc = exc()
        self._exc = exc
        self._state = _DONE
        self._schedule_callbacks()

    def cancel(self, msg=None):
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self._schedule_callbacks()
        return True

    def __iter__(self):
        if self._state == _PENDING:
            yield self
        return self.result()

    __await__ = __iter__


class Task(Future):
    def __init__(self, coro, name=None):
        Future.__init__(self)
        self._coro = coro
        self._name = name
        self._waiter = None
        self._must_cancel = False
        _tasks.add(self)
        _call_soon(self._step, None)

    def get_name(self):
        return self._name

    def get_coro(self):
        return self._coro

    def __repr__(self):
        return "<Task %s>" % ("pending" if self._state == _PENDING else "done")

    def cancel(self, msg=None):
        if self._state != _PENDING:
            return False
        if self._waiter is not None and self._waiter.cancel():
            return True
        self._must_cancel = True
        return True

    def _step(self, exc=None):
        global _cur
        if self._state != _PENDING:
            return
        if self._must_cancel:
            if not isinstance(exc, CancelledError):
                exc = CancelledError()
            self._must_cancel = False
        self._waiter = None
        _cur = self
        try:
            if exc is None:
                r = self._coro.send(None)
            else:
                r = self._coro.throw(exc)
        except StopIteration as e:
            if self._must_cancel:
                self._must_cancel = False
                Future.cancel(self)
            else:
                Future.set_result(self, e.value)
            _tasks.discard(self)
        except CancelledError:
            Future.cancel(self)
            _tasks.discard(self)
        except (KeyboardInterrupt, SystemExit) as e:
            Future.set_exception(self, e)
            _tasks.discard(self)
            _cur = None
            raise
        except BaseException as e:
            unwatched = not self._callbacks
            Future.set_exception(self, e)
            _tasks.discard(self)
            if unwatched:
                _loop.call_exception_handler(
                    {"message": "Task exception wasn't retrieved", "exception": e,
                     "future": self})
        else:
            if isinstance(r, Future):
                r.add_done_callback(self._wakeup)
                self._waiter = r
                if self._must_cancel and r.cancel():
                    self._must_cancel = False
            elif r is None:
                _call_soon(self._step, None)
            else:
                _call_soon(self._step, RuntimeError("Task got bad yield: %r" % (r,)))
        _cur = None

    def _wakeup(self, fut):
        try:
            fut.result()
        except BaseException as e:
            self._step(e)
            return
        self._step(None)


async def sleep(delay, result=None):
    if delay <= 0:
        await _Sleep0()
        return result
    return await _sleep_ms(_to_ms(delay), result)


async def sleep_ms(ms, result=None):
    if ms <= 0:
        await _Sleep0()
        return result
    return await _sleep_ms(int(ms), result)


class _Sleep0:
    def __iter__(self):
        yield

    __await__ = __iter__


def _set_unless_cancelled(fut):
    if not fut.done():
        fut.set_result(fut._sleep_result)


async def _sleep_ms(ms, result):
    fut = Future()
    fut._sleep_result = result
    h = _call_later(ms, _set_unless_cancelled, fut)
    try:
        return await fut
    finally:
        h.cancel()


def ensure_future(aw):
    if isinstance(aw, Future):
        return aw
    return Task(aw)


def create_task(coro, name=None):
    return Task(coro, name)


def current_task():
    return _cur


def all_tasks():
    return set(t for t in _tasks if not t.done())


class Event:
    def __init__(self):
        self._value = False
        self._waiters = []

    def is_set(self):
        return self._value

    def set(self):
        if not self._value:
            self._value = True
            for fut in self._waiters:
                if not fut.done():
                    fut.set_result(True)

    def clear(self):
        self._value = False

    async def wait(self):
        if self._value:
            return True
        fut = Future()
        self._waiters.append(fut)
        try:
            await fut
            return True
        finally:
            self._waiters.remove(fut)


class ThreadSafeFlag:
    """Set from an interrupt handler, awaited by one task; wait() clears it."""

    def __init__(self):
        self._flag = False
        self._fut = None

    def set(self):
        self._flag = True
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def clear(self):
        self._flag = False

    async def wait(self):
        if not self._flag:
            self._fut = Future()
            try:
                await self._fut
            finally:
                self._fut = None
        self._flag = False


class Lock:
    def __init__(self):
        self._locked = False
        self._waiters = []

    def locked(self):
        return self._locked

    async def acquire(self):
        if not self._locked and all(w.cancelled() for w in self._waiters):
            self._locked = True
            return True
        fut = Future()
        self._waiters.append(fut)
        try:
            try:
                await fut
            finally:
                self._waiters.remove(fut)
        except CancelledError:
            if not self._locked:
                self._wake_first()
            raise
        self._locked = True
        return True

    def release(self):
        if not self._locked:
            raise RuntimeError("Lock is not acquired.")
        self._locked = False
        self._wake_first()

    def _wake_first(self):
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(True)
                return

    async def __aenter__(self):
        await self.acquire()
        return None

    async def __aexit__(self, exc_type, exc, tb):
        self.release()


class _Gathering(Future):
    def __init__(self, children):
        Future.__init__(self)
        self._children = children
        self._cancel_requested = False

    def cancel(self, msg=None):
        if self.done():
            return False
        ret = False
        for child in self._children:
            if child.cancel():
                ret = True
        if ret:
            self._cancel_requested = True
        return ret


def gather(*aws, return_exceptions=False):
    children = [ensure_future(a) for a in aws]
    outer = _Gathering(children)
    if not children:
        outer.set_result([])
        return outer
    state = [0]

    def done_cb(fut):
        state[0] += 1
        if outer.done():
            return
        if not return_exceptions:
            if fut.cancelled():
                outer.set_exception(CancelledError())
                return
            exc = fut.exception()
            if exc is not None:
                outer.set_exception(exc)
                return
        if state[0] == len(children):
            results = []
            for c in children:
                if c.cancelled():
                    results.append(CancelledError())
                else:
                    e = c.exception()
                    results.append(c.result() if e is None else e)
            if outer._cancel_requested:
                outer.set_exception(CancelledError())
            else:
                outer.set_result(results)

    for c in children:
        c.add_done_callback(done_cb)
    return outer


def _release_waiter(waiter):
    def cb(fut):
        if not waiter.done():
            waiter.set_result(None)

    return cb


async def _cancel_and_wait(fut):
    waiter = Future()
    cb = _release_waiter(waiter)
    fut.add_done_callback(cb)
    try:
        fut.cancel()
        await waiter
    finally:
        fut.remove_done_callback(cb)


async def wait_for(aw, timeout):
    if timeout is None:
        return await aw
    if timeout <= 0:
        fut = ensure_future(aw)
        if fut.done():
            return fut.result()
        await _cancel_and_wait(fut)
        try:
            return fut.result()
        except CancelledError:
            raise TimeoutError()
    waiter = Future()
    release = _release_waiter(waiter)
    handle = _call_later(_to_ms(timeout), release, None)
    fut = ensure_future(aw)
    fut.add_done_callback(release)
    try:
        try:
            await waiter
        except CancelledError:
            if fut.done():
                return fut.result()
            fut.remove_done_callback(release)
            await _cancel_and_wait(fut)
            raise
        if fut.done():
            return fut.result()
        fut.remove_done_callback(release)
        await _cancel_and_wait(fut)
        try:
            return fut.result()
        except CancelledError:
            raise TimeoutError()
    finally:
        handle.cancel()


def wait_for_ms(aw, timeout):
    return wait_for(aw, None if timeout is None else timeout / 1000)


class Loop:
    def create_task(self, coro):
        return Task(coro)

    def call_soon(self, cb, *args):
        return _call_soon(lambda _a: cb(*args), None)

    def call_later(self, delay, cb, *args):
        return _call_later(_to_ms(delay), lambda _a: cb(*args), None)

    def time(self):
        return _now() / 1000

    def run_forever(self):
        global _stopping
        try:
            while True:
                _run_once()
                if _stopping:
                    break
        finally:
            _stopping = False

    def run_until_complete(self, aw):
        fut = ensure_future(aw)
        fut.add_done_callback(_stop_cb)
        try:
            self.run_forever()
        finally:
            fut.remove_done_callback(_stop_cb)
        if not fut.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return fut.result()

    def stop(self):
        global _stopping
        _stopping = True

    def close(self):
        pass

    def is_running(self):
        return _cur is not None

    def set_exception_handler(self, handler):
        global _handler
        _handler = handler

    def get_exception_handler(self):
        return _handler

    def default_exception_handler(self, context):
        print(context["message"])
        fut = context.get("future")
        if fut is not None:
            print("future:", fut, "coro=", fut.get_coro() if hasattr(fut, "get_coro") else None)
        exc = context.get("exception")
        if exc is not None:
            import sys

            sys.print_exception(exc)

    def call_exception_handler(self, context):
        (_handler or Loop.default_exception_handler)(self, context)


def _stop_cb(fut):
    global _stopping
    _stopping = True


def _run_once():
    while _timers and _timers[0][4]:
        heapq.heappop(_timers)
    if not _ready and not _stopping:
        if _timers:
            wait = _timers[0][0] - _now()
            if wait > 0:
                _idle(wait)
        else:
            _idle(None)
    now = _now()
    while _timers and _timers[0][0] <= now:
        e = heapq.heappop(_timers)
        if not e[4]:
            _ready.append([e[2], e[3], False])
    n = len(_ready)
    for _ in range(n):
        h = _ready.pop(0)
        if not h[2]:
            h[0](h[1])


_loop = Loop()


def get_event_loop():
    return _loop


def new_event_loop():
    global _ready, _timers, _tasks, _cur, _stopping, _handler
    _ready = []
    _timers = []
    _tasks = set()
    _cur = None
    _stopping = False
    _handler = None
    return _loop


def run(main):
    loop = new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        pending = [t for t in _tasks if not t.done()]
        if pending:
            for t in pending:
                t.cancel()
            loop.run_until_complete(gather(*pending, return_exceptions=True))
