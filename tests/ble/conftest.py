"""Fixtures for the BLE tests: a device folder with a real session, secrets, links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ble_support import SECRET, write_session


@pytest.fixture(scope="session")
def session_bytes(tmp_path_factory) -> bytes:
    """The bytes of one 1-hour session, written once for the whole test run."""
    root = tmp_path_factory.mktemp("session-src")
    return write_session(root).read_bytes()


@pytest.fixture
def device_root(tmp_path, session_bytes) -> Path:
    """A device '/' with /sessions/000001.rrl (1 hour), a small 000002.rrl and a secret."""
    root = tmp_path / "device"
    (root / "sessions").mkdir(parents=True)
    (root / "sessions" / "000001.rrl").write_bytes(session_bytes)
    (root / "sessions" / "000002.rrl").write_bytes(os.urandom(700))
    (root / "ble_secret").write_bytes(SECRET)
    return root
