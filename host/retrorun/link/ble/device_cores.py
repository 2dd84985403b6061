"""The device end of the in-memory GATT link: retrofw's `Peripheral`, the same cores a board
runs, either in this process under CPython (`CPythonDevice`) or in real MicroPython
(`MicroPythonDevice`). `GattLink` (link.py) carries packets between them and the host libraries.

Both answer `connect(payload)`, `write(characteristic, data)` with the packets the device
notifies, `disconnect()` and `close()`.

MicroPython runs as ONE persistent VM per device (in a thread), not one run per exchange: the
device's state - the open file, the authenticated connection, the challenge nonce - lives in the
VM between packets exactly as on a board, and a 40 KB read (about 2,000 packets) costs one VM
start instead of 2,000. The VM asks for the next event with `host.call("next", answers)`.

Harness limits met on the way (the WASI build, not the board): compiling the cores from source
needs more than a 110 KB heap (a board imports them as .mpy), so the VM gets 256 KB; and a
garbage collection or a `host.call` deep inside a call chain corrupted the heap (memory faults,
"I/O operation on closed file"), so the loop collects garbage and refills a pool of random bytes
at its top, where the stack is shallow.
"""

from __future__ import annotations

import binascii
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from retrofw import wire_ble
from retrofw.ble.gatt import Peripheral
from retrorun.errors import RetrorunError
from retrorun.link.ble.link import CHAR_CONTROL

DEFAULT_UID = bytes.fromhex("24a1600a1b2c")  # an ESP32's unique_id is its base MAC (6 bytes)


class CPythonDevice:
    """The device cores in this process. `root` is the folder that stands for the device's `/`;
    `uid` the chip's unique id the device answers HELLO with."""

    def __init__(self, root: Path, *, random_bytes: Callable[[int], bytes] = os.urandom,
                 uid: bytes = DEFAULT_UID):
        from retrofw.ble.gatt import app_hooks

        fs_root = str(Path(root).resolve())
        self._out: list[tuple[int, bytes]] = []
        hooks = app_hooks(fs_root, now_ms=lambda: int(time.monotonic() * 1000) & (2**30 - 1))
        hooks["uid"] = uid
        self.confirm = hooks.pop("confirm")  # the device's button
        self.peripheral = Peripheral(self._send, secret_path=fs_root + wire_ble.BLE_SECRET_PATH,
                                     random_bytes=random_bytes, **hooks)

    def _send(self, view):
        self._out.append((CHAR_CONTROL, bytes(view)))
        return True

    def _take(self) -> list[tuple[int, bytes]]:
        out, self._out = self._out, []
        return out

    def connect(self, payload: int) -> list[tuple[int, bytes]]:
        self.peripheral.connect(payload)
        return self._take()

    def disconnect(self) -> None:
        self.peripheral.disconnect()

    def write(self, characteristic: int, data: bytes) -> list[tuple[int, bytes]]:
        if characteristic == CHAR_CONTROL:
            self.peripheral.write(data)  # the write interrupt
            self.peripheral.poll()  # the Bluetooth task's next turn
        return self._take()

    def close(self) -> None:
        pass


_MPY_DEVICE = """
import binascii
import json
import gc

import host
from retrofw.ble.gatt import Peripheral, app_hooks

out = []
pool = bytearray()


def send(view):
    out.append(binascii.hexlify(view).decode())
    return True


def random_bytes(n):
    global pool
    take = bytes(pool[:n])
    pool = pool[n:]
    return take


hooks = app_hooks("/")
hooks["uid"] = binascii.unhexlify(UID)
del hooks["confirm"]
peripheral = Peripheral(send, random_bytes=random_bytes, **hooks)
gc.collect()
answer = "ready %d" % gc.mem_alloc()
while True:
    # Top of the loop, shallow stack: refill the random pool and collect garbage here, so
    # neither host.call nor a collection happens deep inside the cores (see the docstring).
    if len(pool) < 64:
        pool = pool + binascii.unhexlify(host.call("random", "256"))
    if gc.mem_free() < 96 * 1024:
        gc.collect()
    event = host.call("next", answer)
    del out[:]
    kind = event[0]
    if kind == "W":
        peripheral.write(binascii.unhexlify(event[1:]))
        peripheral.poll()
    elif kind == "C":
        peripheral.connect(int(event[1:]))
    elif kind == "D":
        peripheral.disconnect()
    elif kind == "Q":
        break
    answer = " ".join(out)
"""


class MicroPythonDevice:
    """The device cores in ONE persistent real-MicroPython VM (WASI build), `root` mounted at /."""

    def __init__(self, root: Path, *, random_bytes: Callable[[int], bytes] = os.urandom,
                 uid: bytes = DEFAULT_UID, timeout: float = 60.0, heap_kb: int = 256):
        from retrorun.devtools.mpy import MicroPython

        self._requests: queue.Queue = queue.Queue()
        self._answers: queue.Queue = queue.Queue()
        self._timeout = timeout
        self._random = random_bytes
        self.error: str | None = None
        script = f"UID = {uid.hex()!r}\n" + _MPY_DEVICE

        def next_event(answer: str) -> str:
            self._answers.put(answer)
            return self._requests.get()

        def random(n: str) -> str:
            return binascii.hexlify(self._random(int(n))).decode()

        def run() -> None:
            try:
                result = MicroPython(heap_kb=heap_kb).run(script, fs=root,
                                           host={"next": next_event, "random": random})
                if result.exit_code != 0:
                    self.error = result.stderr.strip() or result.stdout.strip()
            except Exception as exc:  # reported to the waiting side, never swallowed
                self.error = str(exc)
            self._answers.put(None)

        self._thread = threading.Thread(target=run, name="micropython-device", daemon=True)
        self._thread.start()
        ready = self._answer().split()
        if not ready or ready[0] != "ready":
            raise RetrorunError("the MicroPython device did not start")
        self.heap_used = int(ready[1])  # bytes in use after imports and setup (gc.mem_alloc)

    def _answer(self) -> str:
        try:
            answer = self._answers.get(timeout=self._timeout)
        except queue.Empty:
            raise RetrorunError("the MicroPython device did not answer") from None
        if answer is None:
            raise RetrorunError(f"the MicroPython device stopped: {self.error}")
        return answer

    def _exchange(self, event: str) -> list[tuple[int, bytes]]:
        self._requests.put(event)
        answer = self._answer()
        return [(CHAR_CONTROL, binascii.unhexlify(item)) for item in answer.split()]

    def connect(self, payload: int) -> list[tuple[int, bytes]]:
        return self._exchange(f"C{payload}")

    def disconnect(self) -> None:
        self._exchange("D")

    def write(self, characteristic: int, data: bytes) -> list[tuple[int, bytes]]:
        if characteristic != CHAR_CONTROL:
            return []
        return self._exchange(f"W{data.hex()}")

    def close(self) -> None:
        if self._thread.is_alive():
            self._requests.put("Q")
            self._thread.join(timeout=10)

