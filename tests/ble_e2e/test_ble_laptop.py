"""The laptop's real BLE code (BleTransport on unmodified adafruit_ble, only `_bleio` on bumble:
bleio_bumble) against the real app on the virtual board (gatt.py on the `bluetooth` stand-in
on bumble): sync equal to the USB sync byte for byte, a link lost mid-sync resumed without
duplicates, config over the air, and a change that weakens warnings held for the button."""

from __future__ import annotations

import pytest
from ble_board import SECRET
from waiting import wait_until

from retrofw import wire_ble
from retrorun.link.ble import bleio_bumble
from retrorun.link.ble.pairing import save_secret
from retrorun.link.ble.transport import BleTransport
from retrorun.link.serial_transport import SerialTransport
from retrorun.link.transport import NeedsConfirmation
from retrorun.sessions.store import Store
from retrorun.sessions.sync import pull_sessions

pytestmark = [pytest.mark.bumble, pytest.mark.micropython]


@pytest.fixture
def over_the_air(laptop):
    """Install the bumble `_bleio` on a board's link and keep its pairing secret (by uid)."""
    installed = []

    def join(board):
        bleio_bumble.install(board.radio.link)
        installed.append(board)
        save_secret(board.uid.hex(), board.name, SECRET)
        return BleTransport.open(board.name, scan_timeout=1.0, timeout=3.0)

    yield join
    if installed:
        bleio_bumble.uninstall()


def _stored(store: Store) -> dict[int, bytes]:
    return {row.session_id: store.raw(row.key) for row in store.sessions()}


def test_a_sync_over_ble_stores_what_the_usb_sync_stores_byte_for_byte(make_ble_board,
                                                                        over_the_air, tmp_path):
    by_air, by_cable = make_ble_board(), make_ble_board()  # the same two sessions on each
    assert by_air.session_files() == by_cable.session_files()
    transport = over_the_air(by_air)
    with Store(tmp_path / "air.sqlite3") as store:
        result = pull_sessions(transport, store)
        air = _stored(store)
    transport.close()
    with SerialTransport(by_cable.port) as usb, Store(tmp_path / "usb.sqlite3") as store:
        pull_sessions(usb, store)
        cable = _stored(store)
    assert sorted(air) == [1, 2] and len(result.stored) == 2
    assert air == cable == by_air.session_files()
    assert sorted(p.name for p in (by_air.fs / "sessions").glob("*.syn")) == [
        "000001.syn", "000002.syn"]


def test_a_link_lost_mid_sync_resumes_without_duplicates(make_ble_board, over_the_air,
                                                         tmp_path):
    board = make_ble_board(sessions=(1500, 600))
    transport = over_the_air(board)
    control = board.radio.handle_of(wire_ble.UUID_RR_CONTROL)
    sent = [0]

    def cut(handle: int, value: bytes) -> bool:
        """The link drops inside an answer: at the first packet after the 30th on the control
        characteristic that continues a message (docs/ble.md: no 0x80 start bit)."""
        if handle != control:
            return False
        sent[0] += 1
        return sent[0] > 30 and not value[0] & wire_ble.CTL_PKT_START

    board.radio.cut_when = cut
    with Store(tmp_path / "s.sqlite3") as store:
        result = pull_sessions(transport, store)
        got = _stored(store)
        rows = store.sessions()
        again = pull_sessions(transport, store)
    transport.close()
    assert "cut: links dropped (fault)" in board.radio.log
    assert transport.reconnects >= 1 and transport.resumes >= 1
    assert got == board.session_files()
    assert len(rows) == 2 and len(result.stored) == 2  # each session once
    assert again.stored == []


def test_config_over_ble_saves_a_change_that_makes_warnings_stronger(make_ble_board,
                                                                     over_the_air):
    board = make_ble_board(config={"haptic.strength": 60})
    with over_the_air(board) as transport:
        answer = transport.config_set({"haptic.strength": 90})
        assert answer["ok"]
        assert transport.config_get()["config"]["haptic.strength"] == 90
    assert board.config()["haptic.strength"] == 90  # /config.json on the board's flash


def test_a_weakening_change_waits_for_the_button_and_lands_after_a_press(make_ble_board,
                                                                         over_the_air):
    board = make_ble_board(config={"haptic.strength": 90})
    with over_the_air(board) as transport:
        with pytest.raises(NeedsConfirmation) as held:
            transport.config_set({"haptic.strength": 30})
        assert held.value.answer["confirm"] == ["haptic.strength"]
        assert board.config()["haptic.strength"] == 90  # nothing saved yet
        assert transport.config_get()["config"]["haptic.strength"] == 90
        board.press()  # a short press on the device's button
        assert wait_until(lambda: board.config()["haptic.strength"] == 30, 20), board.config()
        assert transport.config_get()["config"]["haptic.strength"] == 30
    assert not board.session_files().keys() - {1, 2}  # the press started no recording
