"""The CLI against a virtual board in app mode: deploy, status, config, sync, export.

Real mpremote transport over socket://, real MicroPython running the deployed .mpy firmware.
"""

import json
import shutil
import threading
from pathlib import Path

import pytest

from retrorun.cli.main import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    from retrorun.devtools.vboard.board import VirtualBoard

    work = tmp_path_factory.mktemp("vboard")
    vb = VirtualBoard(mode="app", listen="socket", fs_dir=work / "fs",
                      flash_path=work / "flash.bin")
    thread = threading.Thread(target=vb.serve_forever, daemon=True)
    thread.start()
    assert main(["deploy", "--port", vb.port, "--board", "esp32-devkitc"]) == 0
    yield vb
    vb.stop()
    thread.join(timeout=10)
    vb.close()


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_second_deploy_uploads_nothing_unchanged(board, capsys):
    capsys.readouterr()
    assert main(["deploy", "--port", board.port, "--board", "esp32-devkitc", "--json"]) == 0
    report = _json(capsys)
    assert report["uploaded"] == [] and len(report["unchanged"]) > 20
    assert not report["config_written"]  # the device's config is kept


def test_status_answers_with_the_deployed_firmware(board, capsys):
    from retrofw.version import VERSION

    capsys.readouterr()
    assert main(["status", "--port", board.port, "--json"]) == 0
    status = _json(capsys)
    assert status["firmware"] == VERSION and status["sessions"] == 0


def test_config_out_of_range_is_refused_and_the_device_keeps_its_config(board, capsys):
    capsys.readouterr()
    assert main(["config", "set", "alert.stop_m=1.5", "--port", board.port]) == 0
    before = (board.fs_dir / "config.json").read_bytes()
    assert main(["config", "set", "alert.stop_m=9", "--port", board.port]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alert.stop_m" in err and "0.35..8.0" in err
    # the device refuses too when the host check is bypassed (cross-field rule)
    from retrorun.link.serial_transport import SerialTransport

    with SerialTransport(board.port) as link, pytest.raises(Exception, match=r"alert\.stop_m"):
        link.config_set({"alert.stop_m": 3.0})  # above warning_m 2.5
    assert (board.fs_dir / "config.json").read_bytes() == before
    assert main(["config", "get", "alert.stop_m", "--port", board.port, "--json"]) == 0
    assert _json(capsys)["config"] == {"alert.stop_m": 1.5}


def test_sync_then_resync_adds_nothing_and_exports(board, tmp_path, capsys):
    from session_factory import make_session  # the device's SessionWriter

    src = tmp_path / "dev"
    src.mkdir()
    made = make_session(src, seconds=90)
    (board.fs_dir / "sessions").mkdir(exist_ok=True)
    shutil.copy(made, board.fs_dir / "sessions" / made.name)
    store = str(tmp_path / "s.sqlite3")
    capsys.readouterr()
    assert main(["sync", "--port", board.port, "--store", store, "--json"]) == 0
    first = _json(capsys)
    assert len(first["stored"]) == 1 and first["payload_bytes"] == made.stat().st_size
    assert (board.fs_dir / "sessions" / (made.stem + ".syn")).exists()
    assert main(["sync", "--port", board.port, "--store", store, "--json"]) == 0
    assert _json(capsys)["stored"] == []
    assert main(["sessions", "--store", store, "--json"]) == 0
    assert len(_json(capsys)["sessions"]) == 1
    fit = tmp_path / "s.fit"
    assert main(["export", "last", "--store", store, "--format", "fit", "-o", str(fit)]) == 0
    assert fit.read_bytes()[8:12] == b".FIT"


def test_pair_shares_one_secret_with_the_device_over_usb(board, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    capsys.readouterr()
    assert main(["pair", "--port", board.port, "--json"]) == 0
    answer = _json(capsys)
    assert main(["status", "--port", board.port, "--json"]) == 0
    uid = _json(capsys)["uid"]  # the chip's unique id, as the device reports it over USB
    # the name is the last two bytes of the MAC (= unique_id on an ESP32), upper-case hex
    assert (answer["uid"], answer["name"]) == (uid, "retrorun-" + uid[-4:].upper())
    stored = json.loads(Path(answer["secrets_file"]).read_text())
    device_secret = (board.fs_dir / "ble_secret").read_bytes()
    assert stored[uid] == {"secret": device_secret.hex(), "name": answer["name"]}
    assert len(device_secret) == 32 and answer["checked_over_ble"] is None


def _type_at_the_prompt(board, line: bytes, done, seconds: float = 30.0) -> bytes:
    """Stop what runs, type `line` at the friendly prompt, read the console until done(out)."""
    import time

    import serial

    link = serial.serial_for_url(board.port, baudrate=115200, timeout=0.5)
    try:
        link.write(b"\r\x03\x03")
        link.read(10000)
        link.write(line + b"\r")
        out = b""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not done(out):
            out += link.read(4096)
        return out
    finally:
        link.close()


def test_the_app_refuses_a_board_profile_with_an_input_only_trigger(board):
    profile_path = board.fs_dir / "board.json"
    good = profile_path.read_text()
    bad = json.loads(good)
    bad["distance"]["trig"] = 34
    profile_path.write_text(json.dumps(bad))
    try:
        out = _type_at_the_prompt(board, b"import machine; machine.reset()",
                                  lambda out: b">>> " in out.split(b"machine.reset()")[-1])
        text = out.decode("utf-8", "replace")
        assert "retrorun: cannot start:" in text and "GPIO34 is input-only" in text, text
    finally:
        profile_path.write_text(good)


def test_an_exception_in_a_task_is_logged_and_the_board_restarts(board):
    (board.fs_dir / "crash.txt").unlink(missing_ok=True)
    (board.fs_dir / "crashtest.py").write_text(
        "from retrofw import app\n"
        "async def broken(self):\n"
        "    import asyncio\n"
        "    await asyncio.sleep_ms(300)\n"
        "    1 // 0\n"
        "app.App.led_task = broken\n"
        "app.start()\n")
    try:
        out = _type_at_the_prompt(
            board, b"import crashtest",
            lambda out: b"rst:" in out and (board.fs_dir / "crash.txt").exists())
        crash = (board.fs_dir / "crash.txt").read_text()
        assert "ZeroDivisionError" in crash and "broken" in crash
        assert b"rst:" in out  # the board reset itself after logging
    finally:
        (board.fs_dir / "crashtest.py").unlink(missing_ok=True)
