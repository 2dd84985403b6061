"""Fixtures of the end-to-end BLE tests: a deployed board with its radio, the laptop's secrets."""

from __future__ import annotations

import pytest
from ble_board import BleBoard


@pytest.fixture
def laptop(tmp_path, monkeypatch):
    """The laptop's user data folder (pairing secrets) in the test's folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "laptop"))
    return tmp_path / "laptop"


@pytest.fixture
def make_ble_board(tmp_path):
    boards = []

    def make(**kw):
        boards.append(BleBoard(tmp_path / f"board{len(boards)}", **kw))
        return boards[-1]

    yield make
    for b in boards:
        b.close()


@pytest.fixture
def board(make_ble_board):
    return make_ble_board()
