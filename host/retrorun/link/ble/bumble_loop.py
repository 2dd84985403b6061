"""One asyncio event loop in a daemon thread, for bumble (a BLE host stack written on asyncio)
used from synchronous code: the virtual board's radio and the laptop's `_bleio` on bumble.

`shared()` is the process's loop; `run(coro, timeout)` runs a coroutine on it and returns its
result (or raises its exception, or TimeoutError); `spawn(coro)` starts one without waiting.
Calling `run` from the loop's own thread would deadlock and raises RuntimeError instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any


class BumbleLoop:
    def __init__(self, name: str = "bumble") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 10.0) -> Any:
        if self.in_loop():
            coro.close()
            raise RuntimeError("BumbleLoop.run() called from the loop's own thread")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer from the Bluetooth stack within {timeout} s") from None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, function, *args) -> None:
        self.loop.call_soon_threadsafe(function, *args)


_shared: BumbleLoop | None = None
_lock = threading.Lock()


def shared() -> BumbleLoop:
    global _shared
    with _lock:
        if _shared is None:
            _shared = BumbleLoop()
        return _shared
