"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest
from fault_board import FaultBoard


@pytest.fixture
def make_board(tmp_path):
    """`make_board(**kw)`: a deployed board (tests/fault_board.FaultBoard), closed after the
    test (a module may define its own, e.g. one that starts recording)."""
    boards = []

    def make(**kw):
        boards.append(FaultBoard(tmp_path / str(len(boards)), **kw))
        return boards[-1]

    yield make
    for b in boards:
        b.close()
