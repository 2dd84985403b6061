"""Sync through a real serial link whose cable is pulled, or whose board is reset, at a random
moment, again and again."""

import random
import shutil
import threading
import time

import pytest
from session_factory import make_session

from retrorun.errors import RetrorunError
from retrorun.sessions import logdecode

pytestmark = pytest.mark.slow


def test_cable_pulled_or_board_reset_mid_sync_every_session_lands_once_and_intact(tmp_path):
    from retrorun.devtools.vboard.board import VirtualBoard
    from retrorun.devtools.vboard.throttle import ThrottledLine
    from retrorun.link.serial_transport import SerialTransport
    from retrorun.paths import retrofw_parent
    from retrorun.sessions.store import Store
    from retrorun.sessions.sync import pull_sessions

    fs = tmp_path / "fs"
    fs.mkdir()
    shutil.copytree(retrofw_parent() / "retrofw", fs / "lib" / "retrofw",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for i in range(3):
        make_session(fs, seconds=900 + 300 * i, start_unix=1_764_000_000 + 3600 * i)
    files = {p.name: p.read_bytes() for p in (fs / "sessions").glob("*.rrl")}
    board = VirtualBoard(mode="app", listen="socket", fs_dir=fs, flash_path=tmp_path / "f.bin")
    server = threading.Thread(target=board.serve_forever, daemon=True)
    server.start()
    line = ThrottledLine(int(board.port.rsplit(":", 1)[1]), baud=115200)
    rng = random.Random(5)
    drops = 0
    try:
        with Store(tmp_path / "s.sqlite3") as store:
            for _attempt in range(12):
                delay = rng.uniform(0.5, 3.0)
                fault = rng.choice((line.drop, lambda: board.app.reset(True)))
                timer = threading.Timer(delay, fault)
                timer.start()
                started = time.monotonic()
                try:
                    with SerialTransport(line.port, timeout=5) as link:
                        pull_sessions(link, store, chunk_size=1024)
                    timer.cancel()
                    if len(store.sessions()) == len(files):
                        break
                except RetrorunError as exc:
                    print("attempt", _attempt, round(delay, 2), round(time.monotonic() - started, 2),
                          board.listener.refused, "failed:", exc)
                    drops += 1
                    time.sleep(0.3)
                finally:
                    timer.cancel()
            rows = store.sessions()
            assert drops >= 2, "nothing interrupted the sync; the test proves nothing"
            assert sorted(r.session_id for r in rows) == [1, 2, 3]
            for row in rows:
                raw = store.raw(row.key)
                assert raw == files[f"{row.session_id:06d}.rrl"]
                assert logdecode.decode(raw)[1] == []
            assert store.db.execute("SELECT COUNT(*) FROM partials").fetchone()[0] == 0
    finally:
        line.close()
        board.stop()
        server.join(timeout=10)
        board.close()
