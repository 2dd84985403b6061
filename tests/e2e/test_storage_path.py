"""Storage off the warning path, and the host's work never reset by the parked watchdog (issue
14, points 4 and the watchdog).

The app runs as deployed on the virtual board (real MicroPython, the app's own tasks); the host
interrupts it (Ctrl-C, as every USB command does) and then works on the running app's objects:
the ranging and motor tasks' own work (`App.on_reading`, `App.motor_strength`) must leave the
session file and the free-space check untouched, whatever the level does, while the storage
task's part (`App.store_pending`) writes what they queued.
"""

from __future__ import annotations

import json
import threading

import pytest
from waiting import wait_for_live_lines

from retrorun.devtools.vboard.board import VirtualBoard
from retrorun.devtools.vboard.deployed import board_folder
from retrorun.link.serial_transport import SerialTransport
from retrorun.provision.boards import get_board

pytestmark = pytest.mark.slow


@pytest.fixture
def running(tmp_path):
    board = get_board("esp32-devkitc")
    fs, flash = board_folder(board, tmp_path)
    vb = VirtualBoard(mode="app", listen="socket", fs_dir=fs, flash_path=flash)
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    wait_for_live_lines(vb.port)  # booted: the app runs (the host then interrupts it)
    yield vb, fs
    vb.stop()
    thread.join(timeout=10)
    vb.close()


# A spy in place of the session file and of the free-space check (os.statvfs behind
# SessionStore.free_kb): it counts what reached the flash.
_SPY = """
import time
from retrofw.app import App
A = App.current
class Spy:
    def __init__(self, f):
        self.f = f
        self.calls = 0
    def write(self, b):
        self.calls += 1
        return self.f.write(b)
    def flush(self):
        self.calls += 1
        return self.f.flush()
    def close(self):
        return self.f.close()
now = time.ticks_ms()
A.start_session(now)
W = A.writer
S = Spy(W._file)
W._file = S
free = A.store.free_kb
asked = [0]
def counted():
    asked[0] += 1
    return free()
A.store.free_kb = counted
W.flush_ms = 1  # any flush the writer is allowed to do is due at once
"""

# Readings far, then closing to 0.3 m (NOTICE, WARNING, STOP and a snapshot), then a sensor
# fault (FAULT), each followed by motor ticks, as the ranging and haptics tasks do.
_WARNING_PATH = """
levels = []
t = now
for mm in [6000] * 5 + list(range(4000, 300, -100)) + [300] * 80 + [-3] * 40:
    t = time.ticks_add(t, 60)
    A.on_reading(t, mm)
    A.motor_strength(t)
    levels.append(A.level)
import json
print("RESULT", json.dumps([S.calls, asked[0], A.events.count, sorted(set(levels)), A.ring.ready]))
"""

_STORAGE_PART = """
A.store_pending()
W.poll(time.ticks_add(t, 10))
print("RESULT", json.dumps([S.calls, asked[0], A.events.count]))
"""


def _result(out: bytes) -> list:
    return json.loads(out.decode().split("RESULT")[-1].splitlines()[0])


def test_the_warning_path_never_writes_to_flash_and_the_storage_task_does(running):
    vb, _fs = running
    with SerialTransport(vb.port, timeout=60) as link:
        link.exec(_SPY)
        calls, asked, queued, levels, ready = _result(link.exec(_WARNING_PATH))
        assert (calls, asked) == (0, 0)  # no write, no flush, no statvfs
        assert levels == [0, 1, 2, 3, 4]  # from clear it went through NOTICE, WARNING, STOP and FAULT
        assert queued >= 5 and ready > 0  # alerts, the sensor event, a snapshot
        calls, asked, queued = _result(link.exec(_STORAGE_PART))
        assert calls >= 2 and asked >= 1 and queued == 0  # the storage task wrote them


def test_the_host_working_longer_than_the_parked_watchdog_is_not_reset(running):
    """The app parks its watchdog at 2 minutes when the host stops it (Ctrl-C); a sync of more
    than 2 minutes (~750 KB at 115200 baud) must not be reset mid-way: every device API call
    feeds the parked watchdog."""
    vb, _fs = running
    hw = vb.app.hw  # type: ignore[union-attr]
    with SerialTransport(vb.port, timeout=60) as link:
        link.exec("import retrofw.api as api\napi.sessions()\n")
        for _ in range(5):  # 5 x 50 s of host work at the REPL: 250 s
            hw.advance(50_000_000)
            out = link.exec("api.sessions()\n")
            assert b'"ok": true' in out.replace(b'"ok":true', b'"ok": true'), out
    assert not any("watchdog" in what for _t, what in hw.log), hw.log[-5:]
