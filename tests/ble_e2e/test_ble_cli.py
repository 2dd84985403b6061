"""The whole CLI over Bluetooth: `retrorun pair/status/sync/config/monitor --ble NAME
--ble-transport SPEC` in a process of its own, its bumble host stack on an HCI transport
(TCP) to a controller on the virtual board's radio link (`BoardRadio.serve_hci`, what
`retrorun vboard --ble-hci` serves), against the real app. Each BLE command scans 5 s."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from ble_board import SECRET

from retrorun.link.ble.pairing import save_secret
from retrorun.sessions.store import Store

pytestmark = [pytest.mark.bumble, pytest.mark.micropython, pytest.mark.slow]


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retrorun", *args], capture_output=True,
                          text=True, timeout=timeout)


def _ble(board) -> tuple[str, ...]:
    return ("--ble", board.name, "--ble-transport", board.hci)


def test_pair_checks_the_new_secret_over_ble_and_status_answers_over_ble(make_ble_board,
                                                                         laptop):
    board = make_ble_board(hci=True)
    paired = cli("pair", "--port", board.port, "--check-ble", "--ble-transport", board.hci,
                 "--json")
    assert paired.returncode == 0, paired.stderr
    answer = json.loads(paired.stdout)
    assert answer["name"] == board.name and answer["uid"] == board.uid.hex()
    assert answer["checked_over_ble"] is True
    assert (board.fs / "ble_secret").read_bytes() != SECRET  # a new secret on the device
    status = cli("status", *_ble(board), "--json")
    assert status.returncode == 0, status.stderr
    got = json.loads(status.stdout)
    assert got["uid"] == board.uid.hex() and got["sessions"] == 2 and got["unsynced"] == 2


def test_sync_over_ble_stores_what_sync_over_usb_stores(make_ble_board, laptop, tmp_path):
    by_air, by_cable = make_ble_board(hci=True), make_ble_board()
    save_secret(by_air.uid.hex(), by_air.name, SECRET)
    air = cli("sync", *_ble(by_air), "--store", str(tmp_path / "air.sqlite3"), "--json")
    assert air.returncode == 0, air.stderr
    usb = cli("sync", "--port", by_cable.port, "--store", str(tmp_path / "usb.sqlite3"),
              "--json")
    assert usb.returncode == 0, usb.stderr
    stored = []
    for name in ("air", "usb"):
        with Store(tmp_path / f"{name}.sqlite3") as store:
            stored.append({row.session_id: store.raw(row.key) for row in store.sessions()})
    assert stored[0] == stored[1] == by_air.session_files()
    assert sorted(stored[0]) == [1, 2]


def test_config_set_waits_for_the_button_and_monitor_shows_live_values(make_ble_board, laptop):
    board = make_ble_board(hci=True, config={"haptic.strength": 90})
    save_secret(board.uid.hex(), board.name, SECRET)
    stronger = cli("config", "set", "alert.notice_m=5", *_ble(board), "--json")
    assert stronger.returncode == 0, stronger.stderr
    assert board.config()["alert.notice_m"] == 5
    weaker = subprocess.Popen([sys.executable, "-m", "retrorun", "config", "set",
                               "haptic.strength=30", *_ble(board), "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = weaker.stderr.readline()  # the CLI says it waits for the button
        assert "press the button on the device" in line, line
        assert board.config()["haptic.strength"] == 90
        board.press()
        out, err = weaker.communicate(timeout=40)
    finally:
        weaker.kill()
    assert weaker.returncode == 0, err
    assert json.loads(out)["config"]["haptic.strength"] == 30
    assert board.config()["haptic.strength"] == 30
    monitor = cli("monitor", *_ble(board), "--json", "--count", "2")
    assert monitor.returncode == 0, monitor.stderr
    lines = [json.loads(x) for x in monitor.stdout.splitlines()]
    assert len(lines) == 2
    assert all(x["level_name"] == "clear" and x["distance_mm"] == -1 for x in lines)


def test_retrorun_vboard_serves_its_radio_for_the_cli(tmp_path, laptop):
    """`retrorun vboard --ble-hci` (the board process) and `retrorun status --ble` (another)."""
    from retrofw import wire_ble
    from retrorun.devtools.vboard.deployed import board_folder
    from retrorun.devtools.vboard.loader_protocol import DEFAULT_MAC
    from retrorun.devtools.vboard.radio import bluetooth_mac
    from retrorun.provision.boards import get_board

    fs, flash = board_folder(get_board("esp32-devkitc"), tmp_path / "board",
                             config={"ble.enabled": True})
    (fs / wire_ble.BLE_SECRET_PATH.lstrip("/")).write_bytes(SECRET)
    mac = bluetooth_mac(DEFAULT_MAC)
    name = f"{wire_ble.BLE_NAME_PREFIX}{mac[4]:02X}{mac[5]:02X}"
    save_secret(DEFAULT_MAC.hex(), name, SECRET)
    board = subprocess.Popen([sys.executable, "-u", "-m", "retrorun", "vboard", "--fs", str(fs),
                              "--flash", str(flash), "--ble-hci"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        spec = None
        for _ in range(5):
            line = board.stdout.readline()
            if "--ble-transport" in line:
                spec = line.split("--ble-transport", 1)[1].strip()
                break
        assert spec and spec.startswith("tcp-client:127.0.0.1:"), line
        status = cli("status", "--ble", name, "--ble-transport", spec, "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["uid"] == DEFAULT_MAC.hex()
    finally:
        board.terminate()
        board.communicate(timeout=20)
