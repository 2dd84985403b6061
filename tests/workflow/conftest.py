"""Fixtures for the host workflow tests."""

from __future__ import annotations

import pytest
from session_factory import make_session


@pytest.fixture
def session_file(tmp_path):
    root = tmp_path / "device"
    root.mkdir()
    return make_session(root)
