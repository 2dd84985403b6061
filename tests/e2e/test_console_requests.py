"""Looking at a running device keeps it running: the app answers status, sessions, reads,
config and the clock on the USB console (retrofw.usbctl) while it warns and records.

The real app on the virtual board (MicroPython's Unix port with its asyncio), the real CLI over
socket://. Oracles: the session files on the board's flash (bytes), the board's hardware log
(resets, button presses, when and to what the RTC was set), the motor's output.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from fault_board import FaultBoard, Near
from waiting import wait_until

from retrorun.cli.main import main
from retrorun.link.connect import open_serial
from retrorun.link.console_transport import ConsoleTransport
from retrorun.link.monitor import parse_line
from retrorun.link.serial_transport import SerialTransport
from retrorun.sessions.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.micropython]


@pytest.fixture
def board(tmp_path):
    b = FaultBoard(tmp_path / "b", serve=True, world=Near(), history=(60, 90))
    b.run_until(2_000_000)
    yield b
    b.close()


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def _record(board) -> tuple[int, int]:
    """Press the button (board time): the app starts a session at the release; (its id, the
    board time of the release)."""
    press = board.hw.now_us + 50_000
    board.press(press, 150_000)
    board.run_until(press + 1_000_000)
    with board.hw.lock:
        files = sorted((board.fs / "sessions").glob("*.rrl"))
    return int(files[-1].name[:6]), press + 150_000


def test_status_and_sync_leave_the_recording_running(board, tmp_path, capsys):
    start_us = board.hw.now_us
    sid = _record(board)[0]
    resets_before = board.resets()
    assert main(["status", "--port", board.port, "--json"]) == 0
    assert _json(capsys)["recording"] == sid
    store = tmp_path / "store.sqlite3"
    assert main(["sync", "--port", board.port, "--store", str(store), "--json"]) == 0
    synced = _json(capsys)
    assert synced["skipped_recording"] == [sid] and len(synced["stored"]) == 2
    assert main(["status", "--port", board.port, "--json"]) == 0
    assert _json(capsys)["recording"] == sid
    assert board.resets() == resets_before
    assert b"raw REPL" not in board.out and b"KeyboardInterrupt" not in board.out
    # the app went on warning all along: something 0.3-0.7 m behind plays STOP (no pause)
    t = board.hw.now_us
    board.run_until(t + 3_000_000)
    points = board.levels()
    on_before = [level for at, level in points if at <= start_us][-1]
    assert on_before > 0 and all(level > 0 for at, level in points if at > start_us)
    # the run ends with the button; that session syncs whole, not "recovered"
    board.press(board.hw.now_us + 50_000)
    assert wait_until(lambda: b"closed session %d" % sid in board.out)
    assert main(["sync", "--port", board.port, "--store", str(store), "--json"]) == 0
    assert len(_json(capsys)["stored"]) == 1
    with Store(store) as s:
        key = next(r.key for r in s.sessions() if r.session_id == sid)
    assert main(["report", key, "--store", str(store), "--json"]) == 0
    assert _json(capsys)["recovered"] is False


def test_a_sync_over_the_console_is_byte_for_byte_the_flash(board, tmp_path):
    with board.hw.lock:
        files = {int(p.name[:6]): p.read_bytes()
                 for p in (board.fs / "sessions").glob("*.rrl")}
    from retrorun.sessions.sync import pull_sessions

    with Store(tmp_path / "s.sqlite3") as store, open_serial(board.port) as link:
        assert isinstance(link, ConsoleTransport)
        pull_sessions(link, store, chunk_size=1000)  # reads cross data-line boundaries
        got = {row.session_id: store.raw(row.key) for row in store.sessions()}
    assert got == files and len(files) == 2


def test_the_laptop_sets_the_clock_and_sessions_carry_the_right_start(board, tmp_path):
    sets = []
    rtc_cmd = board.hw._rtc_cmd

    def spy(op, args):
        if op == "s":
            sets.append(board.hw.now_us)
        return rtc_cmd(op, args)

    board.hw._rtc_cmd = spy
    early, early_start_us = _record(board)  # started before any laptop: the clock is unknown
    before = time.time()
    with open_serial(board.port) as link:
        assert link.status()["recording"] == early
    after = time.time()
    assert len(sets) == 1
    late_press = board.hw.now_us + 50_000
    board.press(late_press)  # ends the early session
    board.press(late_press + 400_000)  # starts another, with the clock set
    board.run_until(late_press + 1_500_000)
    store_path = tmp_path / "s.sqlite3"
    board.press(board.hw.now_us + 50_000)
    board.run_until(board.hw.now_us + 500_000)
    with Store(store_path) as store, open_serial(board.port) as link:
        from retrorun.sessions.sync import pull_sessions

        pull_sessions(link, store)
        starts = {row.session_id: row.start_unix for row in store.sessions()}
    # board time of the set -> wall clock: the RTC then reads the laptop's time (whole seconds
    # are sent and logged: up to 2 s low)
    virtual_since_set = (late_press + 400_000 + 150_000 - sets[0]) / 1e6
    assert before + virtual_since_set - 2 <= starts[early + 1] <= after + virtual_since_set + 1
    # the early session is dated back from its clock event
    before_set = (sets[0] - early_start_us) / 1e6
    assert before - before_set - 2 <= starts[early] <= after - before_set + 1


def _connect(port: str) -> socket.socket:
    host, _, number = port.removeprefix("socket://").partition(":")
    return socket.create_connection((host, int(number)), timeout=5)


def test_bad_requests_get_one_answer_each_and_the_app_goes_on(board):
    conn = _connect(board.port)
    try:
        conn.sendall(b"hello there\r\n#rr 5 nosuch []\r\n#rr 6 read [999, 0, 10]\r\n"
                     b"#rr 7 status [" + b"1," * 400 + b"1]\r\n#rr x status []\r\n"
                     b"#rr 8 digest [\"a\"]\r\n#rr 9 sessions []\r\n")
        got = b""
        deadline = time.monotonic() + 20
        while b"\r\n" not in got.partition(b"@rq 9 ")[2] and time.monotonic() < deadline:
            got += conn.recv(4096)
    finally:
        conn.close()
    answers = {}
    for line in got.split(b"\r\n"):
        if line.startswith(b"@rq "):
            seq, _, body = line[4:].partition(b" ")
            answers[int(seq)] = json.loads(body)
    assert sorted(answers) == [5, 6, 7, 8, 9]
    assert "unknown request 'nosuch'" in answers[5]["error"]
    assert answers[6] == {"ok": False, "error": "no session 999"}
    assert answers[7] == {"ok": False, "error": "request longer than 512 bytes"}
    assert answers[8]["ok"] is False
    assert answers[9]["ok"] is True and len(answers[9]["sessions"]) == 2
    assert board.resets() == []


def test_a_board_at_its_repl_takes_the_request_for_a_comment(board):
    with SerialTransport(board.port, restart_app=False) as stopped:  # Ctrl-C: app stopped
        stopped.exec("pass")
    assert ConsoleTransport.probe(board.port) is None
    assert b"SyntaxError" not in board.out
    link = open_serial(board.port)  # falls back to the raw REPL, and sets the clock there
    try:
        assert isinstance(link, SerialTransport)
        assert link.status()["sessions"] == 2
        assert board.hw.rtc_datetime().year >= 2026
    finally:
        link.close()


def test_the_live_lines_the_app_prints_are_what_monitor_reads(board):
    lines = [parse_line(line) for line in bytes(board.out).split(b"\r\n")]
    live = [x for x in lines if x is not None]
    assert live, bytes(board.out)[-300:]
    # Near(): an object 0.3-0.7 m behind, seen by a working sensor
    assert all(x.fault == 0 for x in live)
    assert any(300 <= x.distance_mm <= 700 for x in live)


def test_deploy_asks_before_ending_a_recording_and_yes_goes_on(board, capsys):
    sid = _record(board)[0]
    assert main(["deploy", "--port", board.port, "--board", "esp32-devkitc", "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"recording session {sid}" in err[0] and "--yes" in err[0]
    with open_serial(board.port) as link:  # refused: the run goes on
        assert link.status()["recording"] == sid
    assert main(["deploy", "--port", board.port, "--board", "esp32-devkitc", "--json",
                 "--yes"]) == 0
    assert wait_until(lambda: b"raw REPL" in board.out)


def test_reset_asks_before_the_app_stops_and_says_which_session_it_ended(board, capsys):
    sid = _record(board)[0]
    assert main(["reset", "--port", board.port]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"retrorun: reset stops the app, which is recording session {sid}: the "
                   "session ends there (stop the run with the button first to keep it whole): "
                   "confirm with --yes"]
    assert b"raw REPL" not in board.out  # asked over the console: the app never stopped
    with open_serial(board.port) as link:
        assert link.status()["recording"] == sid
    assert main(["reset", "--port", board.port, "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"port": board.port, "rebooted": True,
                                                   "ended_recording": sid}
